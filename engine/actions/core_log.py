"""core.log: write a message (and optional data) to the run's record and the worker log."""

from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.context import ActionContext
from engine.registry import action


class Config(BaseModel):
    message: str = Field(title="Message", description="What to record; expressions allowed.",
                         examples=["New lead: {{ trigger.body.email }}"], max_length=10_000)
    level: Literal["debug", "info", "warning", "error"] = Field("info", title="Level")
    data: Any = Field(None, title="Data", description="Optional structured data to keep with the message.")


@action("core.log", config=Config, title="Log", description="Record a message in the run history.",
        category="core", side_effect=False)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    if ctx.log is not None:
        getattr(ctx.log, config.level)("step.log", message=config.message)
    return {"message": config.message, "level": config.level, "data": config.data}
