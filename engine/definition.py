"""The workflow definition contract (docs/architecture.md) as pydantic models, plus semantic checks.

``validate_definition`` is the single gate every definition passes before anything is written:
shape, step keys, known actions, action config, expression syntax, trigger config. Errors come
back as one ValidationFailed whose ``fields`` map dotted paths to messages, so the CLI, the API
and the builder can all point at the exact field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import ValidationFailed
from engine.expressions import contains_expression
from engine.registry import all_actions, all_triggers

STEP_KEY_PATTERN = r"^[a-z][a-z0-9_]*$"

#: Flow-control limits (docs/flow-control.md): each is a save-time validation error.
MAX_STEPS = 100  # steps per definition, counting nested ones
MAX_LOOP_DEPTH = 4  # loops inside loops
MAX_NESTING = 8  # branch/loop containers inside each other, whatever their kind
BRANCH_ACTION = "flow.branch"
LOOP_ACTION = "flow.loop"
#: Actions whose step holds a nested list (``branches`` or ``steps``).
CONTAINER_ACTIONS = frozenset({BRANCH_ACTION, LOOP_ACTION})
WAIT_ACTION = "flow.wait_for_event"


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
    #: ``continue``: a failure is recorded (output ``{"error": ...}``) and the run goes on.
    on_error: Literal["fail", "continue"] = "fail"
    #: flow.branch only: the branches, in order.
    branches: list[BranchDef] | None = Field(None, max_length=50)
    #: flow.loop only: the steps run once per item.
    steps: list[StepDef] | None = Field(None, max_length=MAX_STEPS)


class BranchDef(BaseModel):
    """One branch of a flow.branch step: a condition (or ``default``) and its own steps."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=STEP_KEY_PATTERN, max_length=64)
    name: str = Field("", max_length=200)
    when: str | None = Field(None, max_length=2000)
    default: bool = False
    steps: list[StepDef] = Field(default_factory=list, max_length=MAX_STEPS)


StepDef.model_rebuild()


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


def _raw_steps(container: dict[str, Any], prefix: str, depth: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every step dict under ``container`` (nested lists included, to a bounded depth) with its
    dotted location, before pydantic has looked at the shape (anything odd is skipped:
    pydantic or the nesting rules report it)."""
    steps = container.get("steps")
    if not isinstance(steps, list) or depth > MAX_NESTING + 1:
        return
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        loc = f"{prefix}steps.{index}"
        yield loc, step
        yield from _raw_steps(step, loc + ".", depth + 1)
        branches = step.get("branches")
        if isinstance(branches, list):
            for b_index, branch in enumerate(branches):
                if isinstance(branch, dict):
                    yield from _raw_steps(branch, f"{loc}.branches.{b_index}.", depth + 1)


def _shape_limits(raw: dict[str, Any]) -> dict[str, str]:
    """Nesting past FLOWMATE_MAX_JSON_DEPTH in step and trigger configs, and NUL characters in the
    plain-text fields (stored as text columns, where PostgreSQL refuses NUL)."""
    from engine.config import get_settings
    from engine.datalimits import json_depth

    limit = get_settings().max_json_depth
    fields: dict[str, str] = {}
    too_deep = f"nested more than {limit} levels deep (FLOWMATE_MAX_JSON_DEPTH)"
    # + steps → step → config, and four levels (steps → step → branches → branch) per container
    if json_depth(raw, stop_at=limit + 3 + 4 * MAX_NESTING) > limit + 3 + 4 * MAX_NESTING:
        fields["__root__"] = too_deep
    for name in ("name", "description"):
        if isinstance(raw.get(name), str) and "\x00" in raw[name]:
            fields[name] = "must not contain NUL characters"
    for loc, step in _raw_steps(raw, ""):
        if json_depth(step.get("config"), stop_at=limit) > limit:
            fields[f"{loc}.config"] = too_deep
        for name in ("name", "when", "key"):
            if isinstance(step.get(name), str) and "\x00" in step[name]:
                fields[f"{loc}.{name}"] = "must not contain NUL characters"
    trigger = raw.get("trigger")
    if isinstance(trigger, dict) and json_depth(trigger.get("config"), stop_at=limit) > limit:
        fields["trigger.config"] = too_deep
    if "__root__" in fields and len(fields) > 1:
        fields.pop("__root__")
    return fields


# ------------------------------------------------------------------------------ tree helpers


@dataclass(frozen=True)
class StepScope:
    """One step of a (possibly nested) definition and where it sits.

    ``loc`` is the dotted location validation errors use (``steps.1.steps.0``); ``loops`` the
    keys of the enclosing flow.loop steps, outermost first; ``branch`` the ``(branch step key,
    branch key)`` of the innermost enclosing branch, if any; ``parent`` the key of the innermost
    enclosing container step; ``depth`` how many containers enclose it.
    """

    step: dict[str, Any]
    loc: str
    loops: tuple[str, ...] = ()
    branch: tuple[str, str] | None = None
    parent: str | None = None
    depth: int = 0
    #: Every enclosing container as (step key, branch key or None), outermost first.
    ancestry: tuple[tuple[str, str | None], ...] = ()

    @property
    def key(self) -> str:
        return self.step["key"]


def _as_dict(definition: Any) -> dict[str, Any]:
    if isinstance(definition, BaseModel):
        return definition.model_dump(exclude_none=True)
    return definition or {}


def walk_steps(definition: Any) -> Iterator[StepScope]:
    """Every step of ``definition`` (a dict or a WorkflowDefinition), depth first in execution
    order (a container before its inner steps), with its scope. The builder, validation, the
    executor's limits and the run document all walk the tree this one way."""

    def walk(steps: list[dict[str, Any]], prefix: str, loops: tuple[str, ...], branch: tuple[str, str] | None,
             parent: str | None, ancestry: tuple[tuple[str, str | None], ...]) -> Iterator[StepScope]:
        for index, step in enumerate(steps or []):
            loc = f"{prefix}steps.{index}"
            yield StepScope(step, loc, loops, branch, parent, len(ancestry), ancestry)
            key = step.get("key", "")
            if step.get("steps") is not None:
                yield from walk(step["steps"], loc + ".", (*loops, key) if step.get("action") == LOOP_ACTION
                                else loops, branch, key, (*ancestry, (key, None)))
            for b_index, br in enumerate(step.get("branches") or []):
                yield from walk(br.get("steps") or [], f"{loc}.branches.{b_index}.", loops, (key, br.get("key", "")),
                                key, (*ancestry, (key, br.get("key", ""))))

    yield from walk(_as_dict(definition).get("steps") or [], "", (), None, None, ())


#: What ``loop.*`` offers inside a loop (the builder's expression helper lists these).
LOOP_VARIABLES = ("loop.item", "loop.index", "loop.first", "loop.last")


@dataclass
class VisibleScope:
    """What a step's expressions can refer to: earlier steps' outputs, loop variables, and the
    wait steps whose ``resume_url('key')`` it may put in a message."""

    steps: list[StepScope] = field(default_factory=list)
    loop_variables: list[str] = field(default_factory=list)
    #: Enclosing loops, outermost first (``loops.<key>.item`` reaches an outer loop's item).
    loops: list[str] = field(default_factory=list)
    wait_keys: list[str] = field(default_factory=list)


def visible_steps(definition: Any, step_key: str) -> VisibleScope:
    """The steps whose outputs are in scope for ``step_key``: those that ran before it on every
    path to it. Earlier siblings in each enclosing list, and steps inside earlier branches (they
    ran, or were recorded skipped); never steps of another branch of an enclosing branch step,
    never later steps, and never steps inside an earlier loop (outside it only the loop's own
    output, ``{count, results}``, exists). Unknown key: an empty scope."""
    scopes = list(walk_steps(definition))
    target = next((s for s in scopes if s.key == step_key), None)
    out = VisibleScope()
    if target is None:
        return out
    out.loops = list(target.loops)
    out.loop_variables = list(LOOP_VARIABLES) if target.loops else []
    order = {s.key: i for i, s in enumerate(scopes)}
    mine = order[step_key]
    for other in scopes:
        if order[other.key] >= mine:
            break
        # An enclosing container has not finished: its own output is not there yet.
        if any(other.key == key for key, _ in target.ancestry):
            continue
        # Inside a container that does not enclose the target: only visible if every such
        # container is a branch step (steps of a taken branch share the run's scope) and the
        # branch is not a sibling branch of one enclosing the target.
        ok = True
        for key, branch in other.ancestry:
            if (key, branch) in target.ancestry:
                continue
            if branch is None or any(key == k for k, _ in target.ancestry):
                ok = False  # a loop's inner step, or another branch of an enclosing branch step
                break
        if ok:
            out.steps.append(other)
    out.wait_keys = [s.key for s in scopes if s.step.get("action") == WAIT_ACTION]
    return out


# ------------------------------------------------------------------------------- validation


def _check_step(step: StepDef, loc: str, loops: int, nesting: int, fields: dict[str, str],
                seen: dict[str, str], actions: dict[str, Any]) -> None:
    from engine.expressions import check_syntax

    if step.key in seen:
        fields[f"{loc}.key"] = f"duplicate step key {step.key!r} (also used at {seen[step.key]})"
    seen.setdefault(step.key, loc)
    if step.action not in actions:
        fields[f"{loc}.action"] = f"unknown action {step.action!r}; known: {', '.join(sorted(actions))}"
    else:
        fields.update(validate_action_config(step.action, step.config, f"{loc}.config"))
    fields.update(check_syntax(step.config, f"{loc}.config"))
    if step.when:
        fields.update(check_syntax(step.when if "{{" in step.when else "{{ " + step.when + " }}", f"{loc}.when"))
    is_branch, is_loop = step.action == BRANCH_ACTION, step.action == LOOP_ACTION
    if step.branches is not None and not is_branch:
        fields[f"{loc}.branches"] = f"only {BRANCH_ACTION} steps have branches"
    if step.steps is not None and not is_loop:
        fields[f"{loc}.steps"] = f"only {LOOP_ACTION} steps have inner steps (a branch's steps go in its branches)"
    if is_branch and not step.branches:
        fields[f"{loc}.branches"] = "a branch step needs at least one branch"
    if (is_branch or is_loop) and nesting + 1 > MAX_NESTING:
        fields[f"{loc}.action"] = f"branches and loops nest at most {MAX_NESTING} deep"
        return
    if is_loop:
        if loops + 1 > MAX_LOOP_DEPTH:
            fields[f"{loc}.action"] = f"loops nest at most {MAX_LOOP_DEPTH} deep"
        for index, inner in enumerate(step.steps or []):
            _check_step(inner, f"{loc}.steps.{index}", loops + 1, nesting + 1, fields, seen, actions)
    if is_branch and step.branches:
        branch_keys: set[str] = set()
        defaults = [i for i, b in enumerate(step.branches) if b.default]
        if len(defaults) > 1:
            fields[f"{loc}.branches.{defaults[1]}.default"] = "only one branch can be the default"
        for b_index, branch in enumerate(step.branches):
            b_loc = f"{loc}.branches.{b_index}"
            if branch.key in branch_keys:
                fields[f"{b_loc}.key"] = f"duplicate branch key {branch.key!r}"
            branch_keys.add(branch.key)
            if not branch.default and not (branch.when or "").strip():
                fields[f"{b_loc}.when"] = "a branch needs a condition unless it is the default branch"
            if branch.when:
                source = branch.when if "{{" in branch.when else "{{ " + branch.when + " }}"
                fields.update(check_syntax(source, f"{b_loc}.when"))
            for index, inner in enumerate(branch.steps):
                _check_step(inner, f"{b_loc}.steps.{index}", loops, nesting + 1, fields, seen, actions)


def validate_definition(raw: Any) -> WorkflowDefinition:
    """Parse and check a workflow definition; raise ValidationFailed naming every bad field.

    Nested steps (branches, loops) are checked where they sit: an error's location is the dotted
    path to it (``steps.1.steps.0.config.url``), so the builder highlights the nested field.
    """
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
    seen: dict[str, str] = {}
    for index, step in enumerate(definition.steps):
        _check_step(step, f"steps.{index}", 0, 0, fields, seen, actions)
    if len(seen) > MAX_STEPS:
        fields["steps"] = f"a workflow has at most {MAX_STEPS} steps in all (this one has {len(seen)}, nested included)"

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
