"""flow.approval: park the run until a member with the role approves or rejects it."""

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.context import ActionContext
from engine.db import as_aware, utcnow
from engine.errors import PermanentError, Suspend
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(..., min_length=1, max_length=2000, title="Message")
    approver_role: Literal["editor", "admin", "owner"] = Field("admin", title="Who may decide (at least)")
    timeout_s: float = Field(86400, gt=0, le=90 * 86400, title="Timeout (s)")
    on_timeout: Literal["fail", "continue"] = Field("fail", title="On timeout")


@action("flow.approval", config=Config, title="Ask for approval", category="flow", side_effect=False,
        description="Wait for a person to approve or reject; output {approved, by, comment, at}.")
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    """First call: create the pending approval and park until the deadline. Every later call
    (woken by the decision, or at the deadline) reads the decision; a spurious wake-up parks
    again. A rejection fails the step unless the next step's ``when`` checks ``approved``."""
    flow = ctx.flow_api()
    if ctx.resume_at is None:
        deadline = utcnow() + timedelta(seconds=config.timeout_s)
        state = flow.approval(message=config.message, approver_role=config.approver_role, expires_at=deadline)
    else:
        deadline = as_aware(ctx.resume_at)
        state = flow.approval_state() or {}
    status = state.get("status", "pending")
    if status == "pending":
        if utcnow() < deadline:
            flow.watch("approval")
            raise Suspend(deadline)
        flow.expire_approval()
        status = "expired"
    if status == "expired":
        if config.on_timeout == "continue":
            return {"approved": False, "by": None, "comment": None, "at": None, "timed_out": True}
        raise PermanentError(f"nobody approved or rejected within {config.timeout_s:g}s")
    decided_at = as_aware(state.get("decided_at"))
    output = {"approved": status == "approved", "by": state.get("decided_by"), "comment": state.get("comment"),
              "at": decided_at.isoformat() if decided_at else None}
    if not output["approved"] and not flow.next_step_checks(f"steps.{ctx.step_key}.output.approved"):
        reason = f": {output['comment']}" if output["comment"] else ""
        raise PermanentError(f"rejected by {output['by']}{reason}")
    return output
