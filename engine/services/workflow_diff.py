"""A compact diff of two workflow definitions, for the ``workflow.update`` audit row.

It names what an auditor asks about: which top-level fields changed, what happened to the
trigger, which steps were added, removed or reordered, and for each changed step the dotted
paths of the fields that changed (``config.subject``) with short before/after values. Secret
values never appear (the audit redactor replaces values under secret-looking paths, and webhook
secrets are only reported as "set").
"""

from __future__ import annotations

from typing import Any

MAX_VALUE_CHARS = 200
TOP_FIELDS = ("name", "description", "enabled", "timezone")


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "…"
    if isinstance(value, dict | list):
        import json

        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        return value if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"
    return value


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"config": {"to": x}} → {"config.to": x}; lists stay whole (a changed list is one change)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _field_changes(before: Any, after: Any) -> dict[str, dict[str, Any]]:
    old, new = _flatten(before), _flatten(after)
    return {path: {"from": _short(old.get(path)), "to": _short(new.get(path))}
            for path in sorted(set(old) | set(new)) if old.get(path) != new.get(path)}


def workflow_diff(before: dict[str, Any], after: dict[str, Any], *, version: tuple[int, int],
                  secrets_set: list[str] | None = None) -> dict[str, Any]:
    """The compact diff (see the module docstring); ``changed`` is False for a no-op save."""
    out: dict[str, Any] = {"version": {"from": version[0], "to": version[1]}}
    fields = {k: {"from": _short(before.get(k)), "to": _short(after.get(k))}
              for k in TOP_FIELDS if before.get(k) != after.get(k)}
    if fields:
        out["fields"] = fields
    trigger = _field_changes(before.get("trigger") or {}, after.get("trigger") or {})
    if trigger:
        out["trigger"] = trigger
    if secrets_set:
        out["trigger_secrets_set"] = sorted(secrets_set)
    old_steps = {s["key"]: s for s in before.get("steps") or []}
    new_steps = {s["key"]: s for s in after.get("steps") or []}
    steps: dict[str, Any] = {}
    added = [k for k in new_steps if k not in old_steps]
    removed = [k for k in old_steps if k not in new_steps]
    if added:
        steps["added"] = [{"key": k, "action": new_steps[k].get("action")} for k in added]
    if removed:
        steps["removed"] = [{"key": k, "action": old_steps[k].get("action")} for k in removed]
    changed = {}
    for key in new_steps:
        if key in old_steps:
            diff = _field_changes({k: v for k, v in old_steps[key].items() if k != "key"},
                                  {k: v for k, v in new_steps[key].items() if k != "key"})
            if diff:
                changed[key] = diff
    if changed:
        steps["changed"] = changed
    common_old = [k for k in old_steps if k in new_steps]
    common_new = [k for k in new_steps if k in old_steps]
    if common_old != common_new:
        steps["order"] = {"from": list(old_steps), "to": list(new_steps)}
    if steps:
        out["steps"] = steps
    out["changed"] = bool(fields or trigger or secrets_set or steps)
    return out


def secrets_in(trigger_config: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """Which webhook secret fields this save sets (names only)."""
    auth = trigger_config.get("auth") if isinstance(trigger_config, dict) else None
    return [n for n in names if isinstance(auth, dict) and auth.get(n) not in (None, "")]
