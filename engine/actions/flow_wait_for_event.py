"""flow.wait_for_event: park the run until a POST to its resume URL (or the timeout)."""

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.context import ActionContext
from engine.db import as_aware, utcnow
from engine.errors import PermanentError, Suspend
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(86400, gt=0, le=90 * 86400, title="Timeout (s)")
    on_timeout: Literal["fail", "continue"] = Field("fail", title="On timeout")


@action("flow.wait_for_event", config=Config, title="Wait for event", category="flow", side_effect=False,
        description="Wait until someone POSTs to {{ resume_url('<this step key>') }}; the JSON body is the output.")
async def run(ctx: ActionContext, config: Config) -> Any:
    """Park until the resume URL is POSTed (its JSON body is the output) or the timeout."""
    flow = ctx.flow_api()
    if ctx.resume_at is None:
        deadline = utcnow() + timedelta(seconds=config.timeout_s)
        state = flow.wait(expires_at=deadline)
    else:
        deadline = as_aware(ctx.resume_at)
        state = flow.wait_state() or {}
    if state.get("status") == "resumed":
        return state.get("result")
    if state.get("status") != "expired" and utcnow() < deadline:
        flow.watch("event")
        raise Suspend(deadline)
    flow.expire_wait()
    if config.on_timeout == "continue":
        return {"timed_out": True}
    raise PermanentError(f"no event arrived within {config.timeout_s:g}s")
