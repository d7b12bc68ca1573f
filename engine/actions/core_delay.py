"""core.delay: wait without holding a worker.

The first call raises Suspend: the executor parks the run as ``waiting`` and schedules a delayed
queue message. When the run resumes, ``ctx.resume_at`` is set and the step completes.
"""

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field

from engine.context import ActionContext
from engine.db import utcnow
from engine.errors import Suspend
from engine.registry import action


class Config(BaseModel):
    seconds: float = Field(0, ge=0, le=30 * 86400, title="Seconds")
    minutes: float = Field(0, ge=0, le=30 * 1440, title="Minutes")
    hours: float = Field(0, ge=0, le=30 * 24, title="Hours")

    @property
    def total(self) -> timedelta:
        return timedelta(seconds=self.seconds, minutes=self.minutes, hours=self.hours)


@action("core.delay", config=Config, title="Delay", description="Wait before the next step (durable).",
        category="core", side_effect=False)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    if ctx.resume_at is None:
        if config.total.total_seconds() <= 0:
            return {"waited_s": 0}
        raise Suspend(utcnow() + config.total)
    return {"waited_s": config.total.total_seconds(), "resumed_at": utcnow().isoformat()}
