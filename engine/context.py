"""What an action sees while it runs: ids, attempt, idempotency key, logger, connections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.config import Settings, get_settings


@dataclass(frozen=True)
class ConnectionData:
    """A connection as an action needs it: decrypted secret values, kept in memory only."""

    id: str
    type: str
    name: str
    config: dict[str, Any]
    secret: dict[str, Any]


@dataclass
class ActionContext:
    """Passed to every action's ``run(ctx, config)``."""

    run_id: str
    step_key: str
    workflow_id: str
    workspace_id: str
    attempt: int = 1
    resume_at: datetime | None = None
    settings: Settings = field(default_factory=get_settings)
    log: Any = None
    connection_loader: Callable[[str], ConnectionData] | None = None
    #: The workspace's contacts and consent records (engine.services.contacts), handed in by the
    #: executor: actions sit below the services layer and never import it themselves.
    contacts: Any = None
    #: OAuth token handling (engine.oauth.tokens: refresh under a lock, retry once on a 401),
    #: handed in by whoever builds the context, for the same reason.
    oauth: Any = None
    #: ``key``, or ``loop[i].key`` inside a loop: one step execution's identity in its run.
    step_path: str | None = None
    #: Flow-control operations of this step (engine.flow.handle.FlowHandle: approvals, resume
    #: URLs, child runs), handed in by the executor for the flow.* actions.
    flow: Any = None

    @property
    def idempotency_key(self) -> str:
        """Stable across retries of the same step execution (each loop iteration its own), so
        targets can de-duplicate our calls: ``"{run_id}:{path}"``."""
        return f"{self.run_id}:{self.step_path or self.step_key}"

    def flow_api(self) -> Any:
        """The flow-control handle (flow.* actions only run inside a workflow run)."""
        from engine.errors import PermanentError

        if self.flow is None:
            raise PermanentError("flow-control steps run inside a workflow run only")
        return self.flow

    def consent(self) -> Any:
        """The contacts/consent service for marketing checks and consent records."""
        from engine.errors import PermanentError

        if self.contacts is None:
            raise PermanentError("contacts and consent are not available in this context")
        return self.contacts

    def oauth_api(self) -> Any:
        """The OAuth token service for actions whose connection signs in with OAuth."""
        from engine.errors import PermanentError

        if self.oauth is None:
            raise PermanentError("OAuth connections are not available in this context")
        return self.oauth

    def get_connection(self, ref: str) -> ConnectionData:
        """Load a connection of this workspace by id or name (raises PermanentError if absent)."""
        from engine.errors import PermanentError

        if self.connection_loader is None:
            raise PermanentError("connections are not available in this context")
        return self.connection_loader(ref)
