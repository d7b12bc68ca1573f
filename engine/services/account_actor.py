"""The Actor for something a person does to their own account (no workspace is involved).

Audit rows for account events (email verified, password reset) carry no workspace id; the
label names the person.
"""

from __future__ import annotations

from engine.models import Role, User
from engine.services.actor import Actor


def account_actor(user: User, label_prefix: str = "user") -> Actor:
    return Actor(workspace_id=None, role=Role.viewer, label=f"{label_prefix}:{user.email}",  # type: ignore[arg-type]
                 user_id=user.id)
