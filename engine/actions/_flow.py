"""Shared by the flow.* actions: the executor runs them itself (engine/flow/), because they
shape the run (nested steps, parking, child runs) instead of calling out. Their registered
``run`` is only reached if something calls the action outside the executor."""

from __future__ import annotations

from typing import Any

from engine.context import ActionContext
from engine.errors import PermanentError


async def executor_only(ctx: ActionContext, config: Any) -> dict[str, Any]:
    raise PermanentError("flow-control steps run inside a workflow run only")
