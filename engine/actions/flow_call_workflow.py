"""flow.call_workflow: start a run of another workflow of this workspace (a child run)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._flow import executor_only
from engine.registry import action

#: Parent → child → ... at most this many runs deep.
MAX_CALL_DEPTH = 5


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow_id: str = Field(..., min_length=1, max_length=64, title="Workflow id")
    payload: Any = Field(default_factory=dict, title="Payload", description="The child run's trigger payload")
    wait: bool = Field(True, title="Wait for the result",
                       description="Park until the child finishes; the output is the child's result")


action("flow.call_workflow", config=Config, title="Call workflow", category="flow", side_effect=True,
       description="Run another workflow of this workspace; with wait, its result becomes this step's output.")(
    executor_only)
