"""The workflow definition contract (docs/architecture.md) as pydantic models, plus semantic checks.

``validate_definition`` is the single gate every definition passes before anything is written:
shape, step keys, known actions, action config, expression syntax, trigger config. Errors come
back as one ValidationFailed whose ``fields`` map dotted paths to messages, so the CLI, the API
and the builder can all point at the exact field.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import ValidationFailed
from engine.expressions import contains_expression
from engine.registry import all_actions, all_triggers

STEP_KEY_PATTERN = r"^[a-z][a-z0-9_]*$"


class RetryPolicy(BaseModel):
    """Retry policy is data on the step, not code in the action."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(3, ge=1, le=25, title="Max attempts")
    initial_delay_s: float = Field(1.0, ge=0, le=3600, title="First retry delay (s)")
    factor: float = Field(2.0, ge=1, le=10, title="Backoff factor")
    max_delay_s: float = Field(300.0, ge=0, le=86400, title="Longest delay (s)")


class StepDef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=STEP_KEY_PATTERN, max_length=64)
    action: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    when: str | None = Field(None, max_length=2000)
    timeout_s: float | None = Field(None, gt=0, le=3600)


class TriggerDef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: A registered trigger type (engine.registry: built-in manual, webhook, cron, or a plugin's).
    type: str = Field("manual", min_length=1, max_length=32)
    config: dict[str, Any] = Field(default_factory=dict)


class WorkflowDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    enabled: bool = True
    timezone: str = "UTC"
    trigger: TriggerDef = Field(default_factory=TriggerDef)
    steps: list[StepDef] = Field(default_factory=list, max_length=100)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Australia/Sydney)") from exc
        return value


def pydantic_fields(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """Turn a pydantic error into {dotted.path: message}."""
    fields: dict[str, str] = {}
    for err in exc.errors():
        path = ".".join(str(part) for part in (prefix, *err["loc"]) if part != "")
        fields.setdefault(path or prefix or "__root__", err["msg"])
    return fields


def _has_expression(value: Any) -> bool:
    """True if ``value`` (or anything nested in it) holds an expression."""
    if isinstance(value, str):
        return contains_expression(value)
    if isinstance(value, dict):
        return any(_has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return False


def validate_action_config(action_name: str, config: dict[str, Any], prefix: str) -> dict[str, str]:
    """Validate a step's config against its action's Config.

    A field whose value holds an expression can only be type-checked after rendering, so its
    errors are ignored here (the executor validates again with the rendered values).
    """
    spec = all_actions()[action_name]
    try:
        spec.config_model.model_validate(config)
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for err in exc.errors():
            loc = err["loc"]
            top = loc[0] if loc else None
            if top is not None and _has_expression(config.get(str(top))):
                continue
            path = ".".join(str(p) for p in (prefix, *loc))
            fields.setdefault(path, err["msg"])
        return fields
    return {}


def _shape_limits(raw: dict[str, Any]) -> dict[str, str]:
    """Nesting past FLOWMATE_MAX_JSON_DEPTH in step and trigger configs, and NUL characters in the
    plain-text fields (stored as text columns, where PostgreSQL refuses NUL)."""
    from engine.config import get_settings
    from engine.datalimits import json_depth

    limit = get_settings().max_json_depth
    fields: dict[str, str] = {}
    too_deep = f"nested more than {limit} levels deep (FLOWMATE_MAX_JSON_DEPTH)"
    if json_depth(raw, stop_at=limit + 3) > limit + 3:  # + steps → step → config
        fields["__root__"] = too_deep
    for name in ("name", "description"):
        if isinstance(raw.get(name), str) and "\x00" in raw[name]:
            fields[name] = "must not contain NUL characters"
    for index, step in enumerate(raw.get("steps") or [] if isinstance(raw.get("steps"), list) else []):
        if not isinstance(step, dict):
            continue
        if json_depth(step.get("config"), stop_at=limit) > limit:
            fields[f"steps.{index}.config"] = too_deep
        for name in ("name", "when", "key"):
            if isinstance(step.get(name), str) and "\x00" in step[name]:
                fields[f"steps.{index}.{name}"] = "must not contain NUL characters"
    trigger = raw.get("trigger")
    if isinstance(trigger, dict) and json_depth(trigger.get("config"), stop_at=limit) > limit:
        fields["trigger.config"] = too_deep
    if "__root__" in fields and len(fields) > 1:
        fields.pop("__root__")
    return fields


def validate_definition(raw: Any) -> WorkflowDefinition:
    """Parse and check a workflow definition; raise ValidationFailed naming every bad field."""
    from engine.expressions import check_syntax

    if not isinstance(raw, dict):
        raise ValidationFailed("A workflow definition must be a JSON object", {"__root__": "expected an object"})
    shape = _shape_limits(raw)
    if shape:  # too deep or NUL-bearing text: refuse before anything walks it further
        raise ValidationFailed("The workflow definition is invalid", shape)
    try:
        definition = WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed("The workflow definition is invalid", pydantic_fields(exc)) from None

    fields: dict[str, str] = {}
    actions = all_actions()
    seen: dict[str, int] = {}
    for index, step in enumerate(definition.steps):
        prefix = f"steps.{index}"
        if step.key in seen:
            fields[f"{prefix}.key"] = f"duplicate step key {step.key!r} (also used by step {seen[step.key] + 1})"
        seen.setdefault(step.key, index)
        if step.action not in actions:
            fields[f"{prefix}.action"] = f"unknown action {step.action!r}; known: {', '.join(sorted(actions))}"
        else:
            fields.update(validate_action_config(step.action, step.config, f"{prefix}.config"))
        fields.update(check_syntax(step.config, f"{prefix}.config"))
        if step.when:
            fields.update(check_syntax(step.when if "{{" in step.when else "{{ " + step.when + " }}",
                                       f"{prefix}.when"))

    triggers = all_triggers()
    trigger_spec = triggers.get(definition.trigger.type)
    if trigger_spec is None:
        fields["trigger.type"] = (f"unknown trigger type {definition.trigger.type!r}; "
                                  f"known: {', '.join(sorted(triggers))}")
    else:
        try:
            trigger_spec.config_model.model_validate(definition.trigger.config)
        except ValidationError as exc:
            fields.update(pydantic_fields(exc, "trigger.config"))

    if fields:
        raise ValidationFailed("The workflow definition is invalid", fields)
    return definition
