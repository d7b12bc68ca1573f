"""View models the builder page renders, built from a Draft plus errors, connections and run data.

Reflex renders lists of dataclasses with ``rx.foreach``; everything the page shows for a step
(its fields, their errors, the references its expression helper offers) is precomputed here in
plain Python so the components stay declarative and this logic stays unit-testable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flowmate_app.features.builder import tree
from flowmate_app.features.builder.draft import (
    RETRY_FIELDS,
    ActionInfo,
    Draft,
    StepDraft,
    output_references,
    trigger_references,
)
from flowmate_app.features.builder.schema_form import initial_raw

#: Field kinds that hold text an expression can be inserted into.
EXPRESSION_KINDS = frozenset({"text", "textarea", "list", "any", "json", "number"})
STEP_TOP_LEVEL = ("key", "name", "action", "when", "retry", "timeout_s", "on_error")
#: Nested lists deeper than this are not drawn (the page says so); engine limits stop well before
#: anyone builds that by hand, and every level is one more copy of the step card in the page.
MAX_UI_DEPTH = 4
ON_ERROR_OPTIONS = ["fail", "continue"]


@dataclass
class FieldView:
    uid: str
    name: str
    label: str
    kind: str
    value: str = ""
    checked: bool = False
    options: list[str] = field(default_factory=list)
    description: str = ""
    placeholder: str = ""
    required: bool = False
    error: str = ""
    input_id: str = ""
    expression: bool = False
    hint: str = ""


@dataclass
class StepView:
    uid: str
    number: int
    key: str
    action: str
    action_title: str
    action_description: str
    title: str
    name: str
    when: str
    retry_max_attempts: str
    retry_initial_delay_s: str
    retry_factor: str
    retry_max_delay_s: str
    timeout_s: str
    fields: list[FieldView] = field(default_factory=list)
    optional_fields: list[FieldView] = field(default_factory=list)
    optional_set: int = 0
    optional_errors: int = 0
    refs: list[str] = field(default_factory=list)
    key_error: str = ""
    name_error: str = ""
    when_error: str = ""
    retry_error: str = ""
    general_error: str = ""
    error_count: int = 0
    is_first: bool = False
    is_last: bool = False
    #: Where the step sits: its dotted location (error paths start with it) and nesting depth.
    loc: str = ""
    depth: int = 0
    kind: str = "step"  # "step", "branch" (flow.branch) or "loop" (flow.loop)
    on_error: str = "fail"
    on_error_error: str = ""
    lanes: list[LaneView] = field(default_factory=list)
    targets: list[MoveTarget] = field(default_factory=list)
    too_deep: bool = False


@dataclass
class MoveTarget:
    id: str
    label: str


@dataclass
class LaneView:
    """A nested list of steps: a loop's inner steps or one branch of a branch step."""

    id: str
    owner_uid: str
    branch_uid: str = ""
    kind: str = "loop"  # "loop" or "branch"
    key: str = ""
    name: str = ""
    when: str = ""
    default: bool = False
    title: str = ""
    key_error: str = ""
    name_error: str = ""
    when_error: str = ""
    general_error: str = ""
    refs: list[str] = field(default_factory=list)
    steps: list[StepView] = field(default_factory=list)
    is_first: bool = False
    is_last: bool = False
    can_remove: bool = False
    loop_full: bool = False  # a loop cannot be added here (loops nest at most 4 deep)


@dataclass
class ActionOption:
    name: str
    title: str
    description: str
    category: str


@dataclass
class RunStepView:
    key: str
    title: str
    status: str
    attempts: int = 0
    duration: str = ""
    input_json: str = ""
    output_json: str = ""
    error: str = ""


KEY_RULE = "Use lowercase letters, digits and _, starting with a letter (e.g. send_email)"


def friendly(message: str) -> str:
    """Pydantic's wording, made to read well next to a field."""
    if message == "Field required":
        return "Required"
    if message.startswith("String should match pattern '^[a-z][a-z0-9_]*$'"):
        return KEY_RULE
    return message[:1].upper() + message[1:] if message else message


def split_step_errors(errors: dict[str, str], index: int | str, field_names: set[str]) -> tuple[dict[str, str],
                                                                                                dict[str, str]]:
    """Errors of the step at ``index`` (a top-level position or a dotted location such as
    ``steps.1.branches.0.steps.2``): (by config field name, by step part: key/name/when/retry/
    on_error/general). Errors of nested steps and of branches belong to those, not to this step."""
    loc = f"steps.{index}" if isinstance(index, int) else index
    prefix = loc + "."
    by_field: dict[str, str] = {}
    by_part: dict[str, str] = {}
    for path, message in errors.items():
        message = friendly(message)
        if path in (loc, f"{loc}.config", f"{loc}.branches", f"{loc}.steps"):
            by_part.setdefault("general", message)
            continue
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix):]
        if rest.startswith(("steps.", "branches.")):
            continue  # a nested step's or a branch's own error
        if rest.startswith("config."):
            sub = rest[len("config."):]
            name = sub.split(".")[0]
            detail = message if sub == name else f"{sub[len(name) + 1:]}: {message}"
            if name in field_names:
                by_field.setdefault(name, detail)
            else:
                by_part.setdefault("general", f"{sub}: {message}")
            continue
        head = rest.split(".")[0]
        part = head if head in STEP_TOP_LEVEL else "general"
        if part == "timeout_s":
            part = "retry"
        if part == "action":
            part = "general"
        by_part.setdefault(part, message if rest == head else f"{rest[len(head) + 1:]}: {message}")
    return by_field, by_part


def unplaced_errors(errors: dict[str, str]) -> list[str]:
    """Errors no field on the page shows (listed in the banner so nothing is silently lost)."""
    placed_prefixes = ("steps.", "trigger.config.expression", "trigger.config.auth", "name", "timezone",
                       "description", "version", "payload")
    return [f"{path}: {friendly(msg)}" for path, msg in errors.items() if not path.startswith(placed_prefixes)]


def connection_options(current: str, types: tuple[str, ...], connections: list[dict[str, Any]]) -> list[str]:
    names = [c["name"] for c in connections if not types or c.get("type") in types]
    if current and current not in names:
        names.insert(0, current)
    return names


def is_primary(spec: Any, action: str = "") -> bool:
    """Fields shown up front; the rest fold into "More options" to keep long forms short. A
    flow-control step's few settings (loop items, concurrency, limits) are all shown."""
    return bool(spec.required or spec.kind in ("connection", "enum", "textarea") or action.startswith("flow."))


def field_views(step: StepDraft, info: ActionInfo, field_errors: dict[str, str],
                connections: list[dict[str, Any]]) -> list[FieldView]:
    views = []
    for spec in info.fields:
        value = step.values.get(spec.name, "")
        hint = ""
        options = list(spec.options)
        if spec.kind == "connection":
            options = connection_options(value, spec.connection_types, connections)
            if not options:
                hint = f"No {' or '.join(spec.connection_types) or ''} connection yet: add one on the Connections page."
        elif spec.kind == "list":
            hint = "One per line."
        elif spec.kind == "json":
            shape = "object" if spec.json_type == "object" else "list"
            hint = f"JSON {shape}; strings may contain {{{{ expressions }}}}."
        views.append(FieldView(
            uid=step.uid, name=spec.name, label=spec.label, kind=spec.kind, value=value,
            checked=value.strip().lower() == "true", options=options, description=spec.description,
            placeholder=spec.placeholder, required=spec.required, error=field_errors.get(spec.name, ""),
            input_id=f"f-{step.uid}-{spec.name}", expression=spec.kind in EXPRESSION_KINDS, hint=hint,
        ))
    return views


def branch_errors(errors: dict[str, str], loc: str) -> dict[str, str]:
    """Errors of the branch at ``loc`` (``steps.0.branches.1``) by part: key/name/when/general."""
    out: dict[str, str] = {}
    for path, message in errors.items():
        if path == loc:
            out.setdefault("general", friendly(message))
        elif path.startswith(loc + ".") and not path.startswith(loc + ".steps."):
            head = path[len(loc) + 1:].split(".")[0]
            out.setdefault(head if head in ("key", "name", "when") else "general", friendly(message))
    return out


def step_views(draft: Draft, catalogue: dict[str, ActionInfo], errors: dict[str, str],
               connections: list[dict[str, Any]], sample: Any = None,
               outputs: dict[str, Any] | None = None) -> list[StepView]:
    """The step cards of the whole tree: top-level steps, each with its nested lanes."""
    trigger_refs = trigger_references(draft.trigger_type, sample)
    targets = {s.uid: [MoveTarget(id=i, label=label) for i, label in tree.move_targets(draft, s.uid)]
               for s in tree.all_steps(draft)}
    scopes = scope_references(draft, outputs)
    lanes = {lane.id: lane for lane in tree.lanes(draft)}

    def one(step: StepDraft, loc: str, depth: int, index: int, last: int) -> StepView:
        info = catalogue.get(step.action)
        names = {f.name for f in info.fields} if info else set()
        by_field, by_part = split_step_errors(errors, loc, names)
        if info is None:
            by_part.setdefault("general", f"Unknown action {step.action!r}")
        fields = field_views(step, info, by_field, connections) if info else []
        primary_names = {f.name for f in info.fields if is_primary(f, step.action)} if info else set()
        optional = [f for f in fields if f.name not in primary_names]
        initial = {f.name: initial_raw(f) for f in info.fields} if info else {}
        title = info.title if info else step.action
        refs = [*trigger_refs, *scopes.get(step.uid, []), "run.id", "workflow.name"]
        view = StepView(
            uid=step.uid, number=index + 1, key=step.key, action=step.action, action_title=title,
            action_description=info.description if info else "", title=step.name or title, name=step.name,
            when=step.when, optional_fields=optional,
            optional_set=sum(1 for f in optional if f.value.strip() and f.value != initial.get(f.name, "")),
            optional_errors=sum(1 for f in optional if f.error), retry_max_attempts=step.retry.get("max_attempts", ""),
            retry_initial_delay_s=step.retry.get("initial_delay_s", ""), retry_factor=step.retry.get("factor", ""),
            retry_max_delay_s=step.retry.get("max_delay_s", ""), timeout_s=step.timeout_s,
            fields=[f for f in fields if f.name in primary_names], refs=refs,
            key_error=by_part.get("key", ""), name_error=by_part.get("name", ""),
            when_error=by_part.get("when", ""), retry_error=by_part.get("retry", ""),
            general_error=by_part.get("general", ""), on_error_error=by_part.get("on_error", ""),
            error_count=len(by_field) + len(by_part), is_first=index == 0, is_last=index == last,
            loc=loc, depth=depth, on_error=step.on_error if step.on_error in ON_ERROR_OPTIONS else "fail",
            kind="branch" if step.branches is not None else "loop" if step.steps is not None else "step",
            targets=targets.get(step.uid, []), too_deep=depth >= MAX_UI_DEPTH and (
                step.branches is not None or step.steps is not None),
        )
        if step.steps is not None:
            lane = lanes[step.uid]
            view.lanes = [LaneView(
                id=lane.id, owner_uid=step.uid, kind="loop", title=f"For each item of “{step.key}”",
                steps=many(step.steps, f"{loc}.", depth + 1), loop_full=lane.loops + 1 > tree.MAX_LOOP_DEPTH)]
        for b_index, branch in enumerate(step.branches or []):
            b_loc = f"{loc}.branches.{b_index}"
            problems = branch_errors(errors, b_loc)
            lane = lanes[f"{step.uid}.{branch.uid}"]
            view.lanes.append(LaneView(
                id=lane.id, owner_uid=step.uid, branch_uid=branch.uid, kind="branch", key=branch.key,
                name=branch.name, when=branch.when, default=branch.default, title=branch.name or branch.key,
                key_error=problems.get("key", ""), name_error=problems.get("name", ""),
                when_error=problems.get("when", ""), general_error=problems.get("general", ""), refs=refs,
                steps=many(branch.steps, f"{b_loc}.", depth + 1), is_first=b_index == 0,
                is_last=b_index == len(step.branches or []) - 1, can_remove=len(step.branches or []) > 1,
                loop_full=lane.loops + 1 > tree.MAX_LOOP_DEPTH))
            view.error_count += len(problems)
        return view

    def many(steps: list[StepDraft], prefix: str, depth: int) -> list[StepView]:
        return [one(s, f"{prefix}steps.{i}", depth, i, len(steps) - 1) for i, s in enumerate(steps)]

    return many(draft.steps, "", 0)


def scope_references(draft: Draft, outputs: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Per step uid, what its expressions can use besides the trigger: ``loop.*`` inside a
    loop, the outputs of the steps that ran before it on every path (engine.definition.
    visible_steps: never another branch's steps or a loop's inner steps from outside), and
    ``resume_url('key')`` of every wait-for-event step."""
    from engine.definition import visible_steps

    shape = tree.skeleton(draft)
    by_key = {s.key: s for s in tree.all_steps(draft)}
    out: dict[str, list[str]] = {}
    for step in tree.all_steps(draft):
        if not step.key:
            out[step.uid] = []
            continue
        scope = visible_steps(shape, step.key)
        refs = list(scope.loop_variables)
        refs += [f"loops.{key}.item" for key in scope.loops[:-1]]
        for seen in scope.steps:
            refs += output_references(by_key.get(seen.key), seen.key, outputs)
        refs += [f"resume_url('{key}')" for key in scope.wait_keys]
        out[step.uid] = refs
    return out


def action_options(catalogue: dict[str, ActionInfo]) -> list[ActionOption]:
    order = {"core": 0, "data": 1, "http": 2, "email": 3, "sms": 4, "crm": 5, "slack": 6}
    items = sorted(catalogue.values(), key=lambda a: (order.get(a.category, 99), a.title))
    return [ActionOption(name=a.name, title=a.title, description=a.description, category=a.category) for a in items]


def _pretty(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _duration(ms: Any) -> str:
    if ms is None:
        return ""
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def run_step_views(run: dict[str, Any], catalogue: dict[str, ActionInfo] | None = None) -> list[RunStepView]:
    """The live test panel's rows, from ``engine.services.runs.run_public``."""
    titles = {name: info.title for name, info in (catalogue or {}).items()}
    return [
        RunStepView(
            key=s["key"], title=s.get("name") or titles.get(s["action"], s["action"]), status=s["status"],
            attempts=s.get("attempts") or 0,
            duration=_duration(s.get("duration_ms")), input_json=_pretty(s.get("input")),
            output_json=_pretty(s.get("output")), error=s.get("error") or "",
        )
        for s in run.get("steps", [])
    ]


__all__ = ["RETRY_FIELDS", "ActionOption", "FieldView", "StepView", "RunStepView", "step_views", "run_step_views"]
