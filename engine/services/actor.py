"""Who is asking: every service call carries an Actor, and every query is scoped by it."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import Forbidden
from engine.models import Role


@dataclass(frozen=True)
class Actor:
    """A user, an API token or the local operator (CLI), acting inside one workspace."""

    workspace_id: str
    role: Role
    label: str
    user_id: str | None = None
    token_id: str | None = None

    @classmethod
    def system(cls, workspace_id: str, label: str = "cli") -> Actor:
        """The operator at the server's own shell: owner rights in the named workspace."""
        return cls(workspace_id=workspace_id, role=Role.owner, label=label)

    def require(self, role: Role) -> None:
        """Raise Forbidden unless the actor's role is at least ``role``."""
        if Role(self.role).rank < role.rank:
            raise Forbidden(f"this needs the {role.value} role; you are {Role(self.role).value}")

    @property
    def can_edit(self) -> bool:
        return Role(self.role).rank >= Role.editor.rank
