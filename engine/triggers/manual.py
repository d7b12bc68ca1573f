"""Manual trigger: a person (UI, API or CLI) starts the run with an optional JSON payload."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from engine.registry import TriggerType, trigger_type


class ManualConfig(BaseModel):
    """No settings: the payload comes with each start."""

    model_config = ConfigDict(extra="forbid")


@trigger_type
class ManualTrigger(TriggerType):
    name = "manual"
    title = "Manual"
    icon = "mouse_pointer_click"
    description = "Start runs yourself, with a JSON payload."
    Config = ManualConfig
    sample_key = "payload"
