"""flow.return: end the run successfully with a result (what a calling workflow receives)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._flow import executor_only
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Any = Field(None, title="Value", description="The run's result (any JSON, expressions allowed)")


action("flow.return", config=Config, title="Return", category="flow", side_effect=False,
       description="End the run successfully with a result; a parent workflow gets it as its step output.")(
    executor_only)
