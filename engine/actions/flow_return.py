"""flow.return: end the run successfully with a result (what a calling workflow receives)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.context import ActionContext
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Any = Field(None, title="Value", description="The run's result (any JSON, expressions allowed)")


@action("flow.return", config=Config, title="Return", category="flow", side_effect=False,
        description="End the run successfully with a result; a parent workflow gets it as its step output.")
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    """The output carries the value; the executor ends the run (succeeded) after this step."""
    return {"value": config.value}
