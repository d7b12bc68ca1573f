"""flow.wait_for_event: park the run until a POST to its resume URL (or the timeout)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._flow import executor_only
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(86400, gt=0, le=90 * 86400, title="Timeout (s)")
    on_timeout: Literal["fail", "continue"] = Field("fail", title="On timeout")


action("flow.wait_for_event", config=Config, title="Wait for event", category="flow", side_effect=False,
       description="Wait until someone POSTs to {{ resume_url('<this step key>') }}; the JSON body is the output.")(
    executor_only)
