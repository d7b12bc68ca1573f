"""The builder's editable copy of a workflow definition, and every edit the page can make to it.

Pure Python (no Reflex): the state holds one :class:`Draft`, event handlers call these functions,
and the view models are rebuilt from the draft. Keeping edits here makes them unit-testable and
keeps the Reflex state thin.

Field values are held as the text the person typed (see schema_form); :func:`to_definition`
converts them into the workflow definition (engine.definition) and reports conversion problems with the same dotted
paths (``steps.1.config.url``) that ``engine.definition.validate_definition`` uses, so local and
service errors show up in the same place.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.actions._samples import sample_output
from flowmate_app.features.builder.schema_form import (
    MISSING,
    FieldError,
    FieldSpec,
    fields_from_schema,
    from_raw,
    initial_raw,
    to_raw,
)

RETRY_FIELDS: tuple[tuple[str, str, float], ...] = (
    ("max_attempts", "Max attempts", 3),
    ("initial_delay_s", "First retry after (s)", 1.0),
    ("factor", "Backoff factor", 2.0),
    ("max_delay_s", "Longest delay (s)", 300.0),
)
AUTH_LABELS = {"none": "No authentication", "header": "Secret header", "basic": "HTTP Basic", "hmac": "HMAC signature",
               "stripe": "Stripe (Stripe-Signature)", "shopify": "Shopify (X-Shopify-Hmac-Sha256)",
               "xero": "Xero (x-xero-signature)", "standard": "Standard Webhooks (webhook-signature)"}
AUTH_TYPES = tuple(AUTH_LABELS)
#: Auth types whose provider signs deliveries: they take a signing secret and an event filter.
PROVIDER_AUTH = ("stripe", "shopify", "xero", "standard")
_BUILTIN_TRIGGER_ORDER = ("webhook", "cron", "manual")


def _trigger_types() -> tuple[str, ...]:
    """Every registered trigger type, the built-ins first (a plugin's come after, by name)."""
    from engine.registry import all_triggers

    names = set(all_triggers())
    return (*[t for t in _BUILTIN_TRIGGER_ORDER if t in names], *sorted(names - set(_BUILTIN_TRIGGER_ORDER)))


TRIGGER_TYPES = _trigger_types()


def _trigger_choices() -> tuple[tuple[str, str, str, str], ...]:
    """(name, title, icon, description) of every trigger type, in picker order."""
    from engine.registry import all_triggers

    kinds = all_triggers()
    return tuple((name, kinds[name].title, kinds[name].icon, kinds[name].description) for name in TRIGGER_TYPES)


#: The builder's trigger picker: read from the registry, so a plugin's trigger type is offered too.
TRIGGER_CHOICES = _trigger_choices()
COMMON_TIMEZONES = (
    "Australia/Sydney", "Australia/Melbourne", "Australia/Brisbane", "Australia/Adelaide", "Australia/Darwin",
    "Australia/Perth", "Australia/Hobart", "Australia/Lord_Howe", "Pacific/Auckland", "UTC", "Asia/Singapore",
    "Asia/Tokyo", "Europe/London", "America/New_York", "America/Los_Angeles",
)
DEFAULT_CRON = "0 9 * * 1-5"
_KEY_CLEAN = re.compile(r"[^a-z0-9_]+")


# --------------------------------------------------------------------------- action catalogue


@dataclass(frozen=True)
class ActionInfo:
    """What the builder needs about one action (taken from engine.registry.ActionSpec)."""

    name: str
    title: str
    description: str
    category: str
    fields: tuple[FieldSpec, ...]
    connection_types: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


@lru_cache(maxsize=1)
def action_catalogue() -> dict[str, ActionInfo]:
    """Every registered action with its form fields (the registry never changes at runtime)."""
    from engine.registry import all_actions

    return {
        name: ActionInfo(
            name=name, title=spec.title, description=spec.description, category=spec.category,
            fields=tuple(fields_from_schema(spec.config_schema(), spec.connection_types)),
            connection_types=spec.connection_types,
        )
        for name, spec in sorted(all_actions().items())
    }


# --------------------------------------------------------------------------- the draft


@dataclass
class StepDraft:
    uid: str
    key: str
    action: str
    name: str = ""
    values: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # config keys the schema does not describe
    when: str = ""
    retry: dict[str, str] = field(default_factory=dict)
    timeout_s: str = ""
    # Config keys the loaded definition set explicitly: a switch or select still showing its
    # default is only written back when it was written before (so opening and saving a workflow
    # never adds keys to it).
    present: list[str] = field(default_factory=list)
    #: ``fail`` (the default, never written) or ``continue``.
    on_error: str = "fail"
    #: Whether the loaded step had a ``retry`` policy: written back when it had one or it changed.
    retry_present: bool = False
    #: flow.branch: its branches; flow.loop: its inner steps (None: the step has no such list).
    branches: list[BranchDraft] | None = None
    steps: list[StepDraft] | None = None


@dataclass
class BranchDraft:
    """One branch of a flow.branch step: a key, a name, a condition (or default) and its steps."""

    uid: str
    key: str
    name: str = ""
    when: str = ""
    default: bool = False
    steps: list[StepDraft] = field(default_factory=list)


@dataclass
class Draft:
    name: str = "Untitled workflow"
    description: str = ""
    timezone: str = "UTC"
    enabled: bool = True
    trigger_type: str = "manual"
    webhook_methods: list[str] = field(default_factory=lambda: ["POST"])
    auth_type: str = "none"
    auth_header_name: str = "X-FlowMate-Token"
    auth_username: str = ""
    # Write-only secrets: empty means "keep what is stored"; never filled from the server.
    auth_token: str = ""
    auth_password: str = ""
    auth_secret: str = ""
    #: A provider-signed webhook's event filter, comma separated as typed ("" = every event).
    webhook_events: str = ""
    cron_expression: str = DEFAULT_CRON
    #: The config of a trigger type without its own editor here (a plugin's): kept as loaded.
    trigger_config: dict[str, Any] = field(default_factory=dict)
    steps: list[StepDraft] = field(default_factory=list)


def new_uid() -> str:
    return uuid.uuid4().hex[:10]


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def step_from_definition(step: dict[str, Any], catalogue: dict[str, ActionInfo] | None = None) -> StepDraft:
    catalogue = catalogue if catalogue is not None else action_catalogue()
    info = catalogue.get(step.get("action", ""))
    config = dict(step.get("config") or {})
    present = list(config)
    values: dict[str, str] = {}
    if info is not None:
        for spec in info.fields:
            values[spec.name] = to_raw(spec, config.pop(spec.name)) if spec.name in config else initial_raw(spec)
    retry = {name: _num((step.get("retry") or {}).get(name, default)) for name, _label, default in RETRY_FIELDS}
    branches = step.get("branches")
    inner = step.get("steps")
    return StepDraft(
        uid=new_uid(), key=str(step.get("key", "")), action=str(step.get("action", "")),
        name=str(step.get("name") or ""),
        values=values, extra=config, when=str(step.get("when") or ""), retry=retry,
        timeout_s=_num(step.get("timeout_s")), present=present,
        on_error=str(step.get("on_error") or "fail"), retry_present="retry" in step,
        branches=None if not isinstance(branches, list) else [
            BranchDraft(uid=new_uid(), key=str(b.get("key") or ""), name=str(b.get("name") or ""),
                        when=str(b.get("when") or ""), default=bool(b.get("default")),
                        steps=[step_from_definition(s, catalogue) for s in b.get("steps") or []])
            for b in branches if isinstance(b, dict)],
        steps=None if not isinstance(inner, list) else [step_from_definition(s, catalogue) for s in inner],
    )


def draft_from_definition(definition: dict[str, Any], catalogue: dict[str, ActionInfo] | None = None) -> Draft:
    """The editable draft of an exported definition (secrets are never part of an export)."""
    trigger = definition.get("trigger") or {}
    config = trigger.get("config") or {}
    draft = Draft(
        name=str(definition.get("name") or ""),
        description=str(definition.get("description") or ""),
        timezone=str(definition.get("timezone") or "UTC"),
        enabled=bool(definition.get("enabled", True)),
        trigger_type=str(trigger.get("type") or "manual"),
        steps=[step_from_definition(s, catalogue) for s in definition.get("steps") or []],
    )
    load = TRIGGER_EDITORS.get(draft.trigger_type)
    if load is None:
        draft.trigger_config = dict(config)
    else:
        load[0](draft, config)
    return draft


def step_to_definition(step: StepDraft, index: int | str, info: ActionInfo | None,
                       catalogue: dict[str, ActionInfo] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """One step (and its nested steps) as definition JSON; ``index`` is its position in the top
    list or its dotted location (``steps.1.branches.0.steps.2``), which error paths start with."""
    errors: dict[str, str] = {}
    prefix = f"steps.{index}" if isinstance(index, int) else index
    config: dict[str, Any] = dict(step.extra)
    if info is not None:
        for spec in info.fields:
            raw = step.values.get(spec.name, "")
            try:
                value = from_raw(spec, raw)
            except FieldError as exc:
                errors[f"{prefix}.config.{spec.name}"] = str(exc)
                continue
            if spec.kind in ("bool", "enum") and raw == initial_raw(spec) and spec.name not in step.present:
                continue
            if value is not MISSING:
                config[spec.name] = value
    out: dict[str, Any] = {"key": step.key.strip(), "action": step.action, "config": config}
    if step.name.strip():
        out["name"] = step.name.strip()
    if step.when.strip():
        out["when"] = step.when.strip()
    retry: dict[str, Any] = {}
    retry_changed = False
    for name, label, default in RETRY_FIELDS:
        raw = (step.retry.get(name) or "").strip()
        if not raw:
            retry[name] = default
            continue
        try:
            number = float(raw)
        except ValueError:
            errors[f"{prefix}.retry.{name}"] = f"{label.lower()} must be a number"
            continue
        retry[name] = int(number) if name == "max_attempts" and number.is_integer() else number
        retry_changed = retry_changed or retry[name] != default
    if step.retry_present or retry_changed:
        out["retry"] = retry
    if step.timeout_s.strip():
        try:
            out["timeout_s"] = float(step.timeout_s)
        except ValueError:
            errors[f"{prefix}.timeout_s"] = "must be a number of seconds"
    if step.on_error == "continue":
        out["on_error"] = "continue"
    catalogue = catalogue if catalogue is not None else action_catalogue()
    if step.branches is not None:
        out["branches"] = []
        for b_index, branch in enumerate(step.branches):
            b_prefix = f"{prefix}.branches.{b_index}"
            b_out: dict[str, Any] = {"key": branch.key.strip()}
            if branch.name.strip():
                b_out["name"] = branch.name.strip()
            if branch.when.strip():
                b_out["when"] = branch.when.strip()
            if branch.default:
                b_out["default"] = True
            b_out["steps"] = _list_to_definition(branch.steps, f"{b_prefix}.", catalogue, errors)
            out["branches"].append(b_out)
    if step.steps is not None:
        out["steps"] = _list_to_definition(step.steps, f"{prefix}.", catalogue, errors)
    return out, errors


def _list_to_definition(steps: list[StepDraft], prefix: str, catalogue: dict[str, ActionInfo],
                        errors: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for index, inner in enumerate(steps):
        step_out, step_errors = step_to_definition(inner, f"{prefix}steps.{index}", catalogue.get(inner.action),
                                                   catalogue)
        out.append(step_out)
        errors.update(step_errors)
    return out


def _load_webhook(draft: Draft, config: dict[str, Any]) -> None:
    auth = config.get("auth") or {}
    draft.webhook_methods = list(config.get("methods") or ["POST"])
    draft.auth_type = str(auth.get("type") or "none")
    draft.auth_header_name = str(auth.get("header_name") or "X-FlowMate-Token")
    draft.auth_username = str(auth.get("username") or "")
    draft.webhook_events = ", ".join(str(e) for e in config.get("events") or [])


def _dump_webhook(draft: Draft) -> dict[str, Any]:
    auth: dict[str, Any] = {"type": draft.auth_type}
    if draft.auth_type == "header":
        auth["header_name"] = draft.auth_header_name.strip() or "X-FlowMate-Token"
        if draft.auth_token:
            auth["token"] = draft.auth_token
    elif draft.auth_type == "basic":
        auth["username"] = draft.auth_username.strip()
        if draft.auth_password:
            auth["password"] = draft.auth_password
    elif draft.auth_type in ("hmac", *PROVIDER_AUTH) and draft.auth_secret:
        auth["secret"] = draft.auth_secret
    config: dict[str, Any] = {"methods": list(draft.webhook_methods) or ["POST"]}
    if draft.auth_type != "none":
        config["auth"] = auth
    events = [e.strip() for e in draft.webhook_events.replace("\n", ",").split(",") if e.strip()]
    if draft.auth_type in PROVIDER_AUTH and events:
        config["events"] = events
    return config


def _load_cron(draft: Draft, config: dict[str, Any]) -> None:
    draft.cron_expression = str(config.get("expression") or DEFAULT_CRON)


def _dump_cron(draft: Draft) -> dict[str, Any]:
    return {"expression": " ".join(draft.cron_expression.split())}


#: The builder's own editors per trigger type: (load config into the draft, dump it back).
#: A trigger type without one (a plugin's) keeps the config it was loaded with.
TRIGGER_EDITORS: dict[str, tuple[Callable[[Draft, dict[str, Any]], None], Callable[[Draft], dict[str, Any]]]] = {
    "webhook": (_load_webhook, _dump_webhook),
    "cron": (_load_cron, _dump_cron),
    "manual": (lambda draft, config: None, lambda draft: {}),
}


def trigger_to_definition(draft: Draft) -> dict[str, Any]:
    editor = TRIGGER_EDITORS.get(draft.trigger_type)
    config = editor[1](draft) if editor else dict(draft.trigger_config)
    return {"type": draft.trigger_type, "config": config}


def to_definition(draft: Draft,
                  catalogue: dict[str, ActionInfo] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The workflow definition for the draft, and local conversion errors by dotted path."""
    catalogue = catalogue if catalogue is not None else action_catalogue()
    errors: dict[str, str] = {}
    steps = _list_to_definition(draft.steps, "", catalogue, errors)
    definition = {
        "name": draft.name.strip(), "description": draft.description, "enabled": draft.enabled,
        "timezone": draft.timezone, "trigger": trigger_to_definition(draft), "steps": steps,
    }
    return definition, errors


def config_errors(definition: dict[str, Any]) -> dict[str, str]:
    """Each step's action-config errors, even when the definition's shape is invalid elsewhere."""
    from engine.definition import validate_action_config

    catalogue = action_catalogue()
    errors: dict[str, str] = {}

    def check(steps: Any, prefix: str) -> None:
        for index, step in enumerate(steps if isinstance(steps, list) else []):
            if not isinstance(step, dict):
                continue
            loc = f"{prefix}steps.{index}"
            if step.get("action") in catalogue and isinstance(step.get("config"), dict):
                errors.update(validate_action_config(step["action"], step["config"], f"{loc}.config"))
            check(step.get("steps"), loc + ".")
            for b_index, branch in enumerate(step.get("branches") or []):
                if isinstance(branch, dict):
                    check(branch.get("steps"), f"{loc}.branches.{b_index}.")

    check(definition.get("steps"), "")
    return errors


def clear_secrets(draft: Draft) -> None:
    """After a save the secret inputs are emptied: the server keeps them, the page never shows them."""
    draft.auth_token = draft.auth_password = draft.auth_secret = ""


# --------------------------------------------------------------------------- structural edits


def suggest_key(action: str, existing: set[str]) -> str:
    """A unique step key from the action name: ``core.log`` -> ``log``, ``log_2``, ..."""
    base = _KEY_CLEAN.sub("_", action.split(".")[-1].lower()).strip("_") or "step"
    if not base[0].isalpha():
        base = "step_" + base
    if base not in existing:
        return base
    n = 2
    while f"{base}_{n}" in existing:
        n += 1
    return f"{base}_{n}"


def insert_reference(current: str, reference: str) -> str:
    """Append ``{{ reference }}`` to a field's text, with a space when needed."""
    token = "{{ " + reference + " }}"
    if not current:
        return token
    return current + ("" if current.endswith((" ", "\n")) else " ") + token


# --------------------------------------------------------------------------- expression helper


def _paths(value: Any, prefix: str, depth: int, out: list[str]) -> None:
    if isinstance(value, dict) and depth > 0:
        for key, item in list(value.items())[:25]:
            if isinstance(key, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                path = f"{prefix}.{key}"
                out.append(path)
                _paths(item, path, depth - 1, out)


def parse_sample(text: str) -> tuple[Any, str]:
    """(value, error) for the test-run payload editor."""
    if not text.strip():
        return {}, ""
    try:
        return json.loads(text), ""
    except ValueError as exc:
        return None, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"


def trigger_references(trigger_type: str, sample: Any) -> list[str]:
    """What a step can refer to from the trigger, with the sample payload's keys spelled out.

    The trigger type says what its ``trigger`` object holds (``sample_payload``) and which key
    carries the caller's data (``sample_key``): the person's sample is spelled out under it.
    """
    from engine.registry import all_triggers

    kind = all_triggers().get(trigger_type) or all_triggers()["manual"]
    refs: list[str] = []
    for key in kind.sample_payload({}):
        refs.append(f"trigger.{key}")
        if key == kind.sample_key:
            _paths(sample, f"trigger.{key}", 2, refs)
    return refs


def step_references(draft: Draft, index: int, sample: Any = None,
                    outputs: dict[str, Any] | None = None) -> list[str]:
    """References available to step ``index``: the trigger, earlier steps' outputs, run and workflow.

    ``outputs`` (step key -> output of the last test run) spells out real output keys; a
    data.transform step's mapping keys are known even before any run.
    """
    return [*trigger_references(draft.trigger_type, sample), *earlier_step_references(draft, index, outputs),
            "run.id", "workflow.name"]


def earlier_step_references(draft: Draft, index: int, outputs: dict[str, Any] | None = None) -> list[str]:
    """Outputs of the top-level steps before ``index`` (nested scopes: views.scope_references)."""
    refs: list[str] = []
    for step in draft.steps[:index]:
        if step.key:
            refs += output_references(step, step.key, outputs)
    return refs


def output_references(step: StepDraft | None, key: str, outputs: dict[str, Any] | None = None) -> list[str]:
    """``steps.<key>.output`` and the keys it is known to have: from the last test run, a
    data.transform step's mapping, or the action's example output."""
    base = f"steps.{key}.output"
    refs = [base]
    output = (outputs or {}).get(key)
    action = step.action if step else ""
    if isinstance(output, dict):
        _paths(output, base, 1, refs)
    elif step is not None and action == "data.transform":
        try:
            mapping = json.loads(step.values.get("mapping") or "{}")
        except ValueError:
            mapping = {}
        _paths(mapping, base, 1, refs)
    elif action and (sample_out := sample_output(action)) is not None:  # integrations' example outputs
        _paths(sample_out, base, 1, refs)
    return refs


# --------------------------------------------------------------------------- cron preview


def known_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def timezone_options(current: str) -> list[str]:
    options = list(COMMON_TIMEZONES)
    if current and current not in options:
        options.insert(0, current)
    return options


def format_fire_time(when: datetime, timezone: str) -> str:
    """``Mon 3 Mar 2025, 9:00 am AEDT``: day first, 12-hour clock, as Australians write it."""
    local = when.astimezone(ZoneInfo(timezone))
    hour = local.hour % 12 or 12
    return f"{local:%a} {local.day} {local:%b %Y}, {hour}:{local:%M} {'am' if local.hour < 12 else 'pm'} {local:%Z}"


def cron_preview(expression: str, timezone: str, now: datetime, count: int = 5) -> tuple[str, list[str], str]:
    """(human description, next ``count`` fire times formatted in ``timezone``, error)."""
    from cron_descriptor import Options, get_description
    from croniter import croniter

    from engine.triggers.cron import next_fire_times

    expr = " ".join(expression.split())
    if not expr:
        return "", [], "Enter a cron expression, e.g. 0 9 * * 1-5 (9am on weekdays)"
    if len(expr.split(" ")) != 5:
        return "", [], f"A cron expression has 5 fields (minute hour day month weekday); this has {len(expr.split())}"
    if not croniter.is_valid(expr):
        return "", [], f"'{expr}' is not a valid cron expression"
    if not known_timezone(timezone):
        return "", [], f"Unknown time zone {timezone!r}"
    try:
        options = Options()
        options.use_24hour_time_format = False
        options.verbose = False
        description = get_description(expr, options)
    except Exception:  # cron-descriptor is stricter than croniter for a few forms; the times still help
        description = ""
    times = [format_fire_time(t, timezone) for t in next_fire_times(expr, timezone, now, count)]
    return description, times, ""
