"""flow.approval: park the run until a member with the role approves or rejects it."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._flow import executor_only
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(..., min_length=1, max_length=2000, title="Message")
    approver_role: Literal["editor", "admin", "owner"] = Field("admin", title="Who may decide (at least)")
    timeout_s: float = Field(86400, gt=0, le=90 * 86400, title="Timeout (s)")
    on_timeout: Literal["fail", "continue"] = Field("fail", title="On timeout")


action("flow.approval", config=Config, title="Ask for approval", category="flow", side_effect=False,
       description="Wait for a person to approve or reject; output {approved, by, comment, at}.")(executor_only)
