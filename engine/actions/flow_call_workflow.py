"""flow.call_workflow: start a run of another workflow of this workspace (a child run)."""

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.context import ActionContext
from engine.db import utcnow
from engine.errors import PermanentError, Suspend
from engine.registry import action

#: Parent → child → ... at most this many runs deep.
MAX_CALL_DEPTH = 5


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow_id: str = Field(..., min_length=1, max_length=64, title="Workflow id")
    payload: Any = Field(default_factory=dict, title="Payload", description="The child run's trigger payload")
    wait: bool = Field(True, title="Wait for the result",
                       description="Park until the child finishes; the output is the child's result")


#: A waiting parent looks at its child at least this often (the child's end wakes it sooner).
POLL_S = 300.0


@action("flow.call_workflow", config=Config, title="Call workflow", category="flow", side_effect=True,
        description="Run another workflow of this workspace; with wait, its result becomes this step's output.")
async def run(ctx: ActionContext, config: Config) -> Any:
    """Start the child run once (a retry or a resume finds it), then, with ``wait``, park until
    it ends: its result is the output; its failure or cancellation fails this step."""
    flow = ctx.flow_api()
    child = flow.child()
    if child is None:
        child_id = flow.call(workflow_id=config.workflow_id, payload=config.payload, max_depth=MAX_CALL_DEPTH)
        if not config.wait:
            return {"run_id": child_id}
        child = flow.child() or {"id": child_id, "status": "queued"}
    elif not config.wait:
        return {"run_id": child["id"]}
    if child["status"] == "succeeded":
        return child["result"]
    if child["status"] in ("failed", "cancelled"):
        raise PermanentError(f"the called run {child['status']}: {child.get('error') or 'no error given'}")
    flow.watch("child")
    raise Suspend(utcnow() + timedelta(seconds=POLL_S))
