"""Manual trigger: a person (UI, API or CLI) starts the run with an optional JSON payload."""

from pydantic import BaseModel, ConfigDict

from engine.registry import trigger


class ManualConfig(BaseModel):
    """No settings: the payload comes with each start."""

    model_config = ConfigDict(extra="forbid")


trigger("manual", config=ManualConfig, title="Manual", description="Start runs yourself, with a JSON payload.")(
    ManualConfig
)
