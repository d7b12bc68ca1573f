"""``data.transform``: build a new object from expressions, for later steps to use.

Each value of ``mapping`` may be a literal or an expression; the executor renders the config
before the action runs (a value that is exactly one ``{{ }}`` keeps its native type), so the
step's output is simply the rendered mapping. Typical use: reshape a webhook body once
(``full_name``, ``phone``, ``is_vip``) and refer to ``steps.lead.output.full_name`` afterwards.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.context import ActionContext
from engine.registry import action

MAX_KEYS = 200


class Config(BaseModel):
    """Keys of the new object mapped to literals or expressions (nested objects and lists allowed)."""

    model_config = ConfigDict(extra="forbid")

    mapping: dict[str, Any] = Field(
        title="Mapping",
        description="Keys of the output object and the expression that computes each value.",
        examples=[{
            "full_name": "{{ trigger.body.first_name }} {{ trigger.body.last_name }}",
            "email": "{{ trigger.body.email | lower }}",
            "is_vip": "{{ trigger.body.total | float > 1000 }}",
        }],
    )

    @field_validator("mapping")
    @classmethod
    def _keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_KEYS:
            raise ValueError(f"at most {MAX_KEYS} keys")
        blank = [k for k in value if not str(k).strip()]
        if blank:
            raise ValueError("keys must not be blank")
        return value


@action(
    "data.transform",
    config=Config,
    title="Transform data",
    description="Build a new object from expressions (reshape, combine or clean up data).",
    category="data",
    side_effect=False,
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    return dict(config.mapping)
