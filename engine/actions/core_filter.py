"""core.filter: continue only when a condition holds; otherwise stop the run as succeeded."""

from typing import Any

from pydantic import BaseModel, Field

from engine.context import ActionContext
from engine.errors import StopRun
from engine.registry import action


class Config(BaseModel):
    condition: Any = Field(
        title="Continue only if",
        description="An expression; when it is false the run stops here (as succeeded).",
        examples=["{{ trigger.body.amount > 100 }}"],
    )
    reason: str = Field("", title="Reason shown when stopped", max_length=500)


@action("core.filter", config=Config, title="Filter", description="Stop the run unless a condition is true.",
        category="core", side_effect=False)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    # The executor has already rendered the condition, so a whole-expression is a native value.
    value = config.condition
    passed = bool(value) and not (isinstance(value, str) and value.strip().lower() in ("false", "0", "none", ""))
    if not passed:
        raise StopRun(config.reason or "filter condition was false")
    return {"passed": True}
