"""Pure helpers of the template gallery: view models for cards, the step preview and the variable form.

The catalogue (engine/catalog) owns templates, their typed variables and validation; this module
only shapes what the page shows. Form values stay text until ``instantiate`` parses them, the same
way the CLI passes ``--var k=v`` strings, so the service's field-level errors apply unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TRIGGER_LABELS = {"webhook": "Webhook", "cron": "Schedule", "manual": "Manual"}


@dataclass
class TemplateCard:
    slug: str
    name: str
    description: str
    category: str
    tags: list[str] = field(default_factory=list)
    connection_types: list[str] = field(default_factory=list)
    trigger_type: str = ""
    trigger_label: str = ""
    step_count: int = 0


@dataclass
class PreviewStep:
    number: int
    key: str
    action: str
    action_title: str
    name: str
    when: str = ""


@dataclass
class VariableField:
    name: str
    title: str
    type: str
    kind: str  # text | textarea | number | bool | enum | connection
    value: str = ""
    checked: bool = False
    options: list[str] = field(default_factory=list)
    description: str = ""
    required: bool = False
    error: str = ""
    input_id: str = ""
    hint: str = ""


PLACEHOLDERS = {
    "email": "name@example.com.au", "emails": "a@example.com.au, b@example.com.au", "url": "https://…",
    "path": "/reports/daily", "phone": "0412 345 678", "cron": "0 9 * * 1-5", "timezone": "Australia/Sydney",
}


def card_from_summary(summary: dict[str, Any]) -> TemplateCard:
    return TemplateCard(
        slug=summary["slug"], name=summary["name"], description=summary["description"],
        category=summary["category"], tags=list(summary.get("tags") or []),
        connection_types=list(summary.get("connection_types") or []),
        trigger_type=summary.get("trigger_type", ""),
        trigger_label=TRIGGER_LABELS.get(summary.get("trigger_type", ""), summary.get("trigger_type", "")),
        step_count=int(summary.get("step_count") or 0),
    )


def preview_steps(public: dict[str, Any], action_titles: dict[str, str]) -> list[PreviewStep]:
    return [
        PreviewStep(number=i + 1, key=s["key"], action=s["action"], action_title=action_titles.get(s["action"],
                    s["action"]), name=s.get("name") or "", when=s.get("when") or "")
        for i, s in enumerate(public.get("steps") or [])
    ]


def raw_default(variable: dict[str, Any]) -> str:
    """A variable's default as the text its input starts with."""
    value = variable.get("default")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def variable_kind(variable: dict[str, Any]) -> str:
    return {"bool": "bool", "enum": "enum", "int": "number", "text": "textarea",
            "connection": "connection"}.get(variable["type"], "text")


def variable_fields(variables: list[dict[str, Any]], values: dict[str, str], errors: dict[str, str],
                    connections: list[dict[str, Any]]) -> list[VariableField]:
    """The "use template" form: one typed input per variable, with its current text and error."""
    out = []
    for var in variables:
        kind = variable_kind(var)
        value = values.get(var["name"], raw_default(var))
        options = [str(c) for c in var.get("choices") or []]
        hint = PLACEHOLDERS.get(var["type"], "")
        if kind == "connection":
            types = var.get("connection_types") or []
            options = [c["name"] for c in connections if c.get("type") in types]
            if value and value not in options:
                hint = (f"No {' or '.join(types)} connection named “{value}” yet: the workflow is created anyway, "
                        "add the connection on the Connections page before it runs.")
                if options:
                    options.insert(0, value)
                else:
                    kind = "text"
        if var["type"] == "emails":
            hint = "Separate several addresses with commas."
        out.append(VariableField(
            name=var["name"], title=var["title"], type=var["type"], kind=kind, value=value,
            checked=value == "true", options=options, description=var.get("description") or "",
            required=bool(var.get("required")), error=_sentence(errors.get(f"variables.{var['name']}", "")),
            input_id=f"var-{var['name']}", hint=hint,
        ))
    return out


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


def general_errors(errors: dict[str, str]) -> list[str]:
    """Errors not tied to one variable (e.g. the workflow name), for the form's banner."""
    return [f"{path}: {msg}" for path, msg in errors.items() if not path.startswith("variables.")]
