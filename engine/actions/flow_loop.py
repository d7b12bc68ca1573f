"""flow.loop: run the inner steps once per item of a list (durable per iteration)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._flow import executor_only
from engine.registry import action

#: The most items a loop may be given at all (``max_items`` is capped here).
ITEMS_CEILING = 10_000


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Any = Field(..., title="Items", description="A list, usually an expression such as {{ trigger.body.items }}")
    concurrency: int = Field(1, ge=1, le=10, title="Iterations at a time")
    max_items: int = Field(1000, ge=1, le=ITEMS_CEILING, title="Most items")
    truncate: bool = Field(False, title="Truncate longer lists",
                           description="Loop over the first max_items items instead of failing")


action("flow.loop", config=Config, title="Loop over items", category="flow", side_effect=False,
       description="Run the inner steps for each item: loop.item, loop.index, loop.first, loop.last.")(executor_only)
