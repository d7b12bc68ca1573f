"""Turn an action's Config JSON schema into form fields, and form text back into config values.

The builder never hard-codes a form per action: ``ActionSpec.config_schema()`` is the contract
(the builder never hard-codes a form). This module is pure Python (no Reflex) so the mapping is unit-tested
without a browser.

Every field is edited as text ("raw" value) and converted when the definition is built, so a
half-typed number or JSON object never loses what the person typed. A value that contains an
expression (``{{ ... }}``) is kept as a string whatever the field's type: the engine type-checks
it after rendering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: Field kinds the step form knows how to render.
KINDS = ("text", "textarea", "number", "bool", "enum", "list", "json", "any", "password", "connection")

#: Config fields that hold long free text even without a large maxLength.
_LONG_TEXT_NAMES = frozenset({"body", "text", "html", "message"})
#: Connection fields other than ``connection`` and the connection types they accept.
_EXTRA_CONNECTION_FIELDS = {"secret_connection": ("http",)}


@dataclass(frozen=True)
class FieldSpec:
    """One input of a step form, derived from one property of the Config schema."""

    name: str
    label: str
    kind: str
    required: bool = False
    description: str = ""
    placeholder: str = ""
    options: tuple[str, ...] = ()
    default: Any = None
    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    connection_types: tuple[str, ...] = ()
    json_type: str = ""  # "object" or "array" for kind == "json"
    extra: dict[str, Any] = field(default_factory=dict)


def has_expression(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _resolve(prop: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (pydantic puts nested models and enums in ``$defs``)."""
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = root.get("$defs", {}).get(ref.split("/")[-1], {})
        merged = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
        return _resolve(merged, root) if "$ref" in target else merged
    return prop


def _unwrap(prop: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Return (the non-null alternative of an ``anyOf [X, null]``, whether null is allowed)."""
    prop = _resolve(prop, root)
    options = prop.get("anyOf")
    if not isinstance(options, list):
        return prop, prop.get("type") == "null"
    non_null = [_resolve(o, root) for o in options if o.get("type") != "null"]
    nullable = len(non_null) != len(options)
    outer = {k: v for k, v in prop.items() if k != "anyOf"}
    if len(non_null) == 1:
        return {**non_null[0], **outer}, nullable
    # Several real alternatives (e.g. string | integer | number): free-form.
    return outer, nullable


def _placeholder(prop: dict[str, Any]) -> str:
    examples = prop.get("examples") or []
    if examples:
        first = examples[0]
        if isinstance(first, str):
            return first if "\n" not in first else first.split("\n")[0] + " …"
        return json.dumps(first)
    default = prop.get("default")
    if default not in (None, "", [], {}):
        return f"Default: {default if isinstance(default, str) else json.dumps(default)}"
    return ""


def field_from_property(
    name: str, prop: dict[str, Any], root: dict[str, Any], required: bool,
    connection_types: tuple[str, ...] = (),
) -> FieldSpec:
    """Map one schema property to a FieldSpec (see KINDS)."""
    inner, _nullable = _unwrap(prop, root)
    label = str(prop.get("title") or inner.get("title") or name.replace("_", " ").capitalize())
    description = str(prop.get("description") or inner.get("description") or "")
    if "title" not in prop and inner.get("description") and inner is not prop:
        description = str(prop.get("description") or "")
    common: dict[str, Any] = {
        "name": name, "label": label, "required": required, "description": description,
        "placeholder": _placeholder(prop), "default": prop.get("default", inner.get("default")),
    }
    json_type = inner.get("type")
    if name == "connection" or name in _EXTRA_CONNECTION_FIELDS:
        types = connection_types if name == "connection" else _EXTRA_CONNECTION_FIELDS[name]
        return FieldSpec(kind="connection", connection_types=tuple(types), **common)
    if inner.get("format") == "password" or inner.get("writeOnly"):
        return FieldSpec(kind="password", **common)
    if isinstance(inner.get("enum"), list):
        return FieldSpec(kind="enum", options=tuple(str(v) for v in inner["enum"]), **common)
    if json_type == "boolean":
        return FieldSpec(kind="bool", **common)
    if json_type in ("integer", "number"):
        minimum = inner.get("minimum", inner.get("exclusiveMinimum"))
        return FieldSpec(kind="number", integer=json_type == "integer", minimum=minimum,
                         maximum=inner.get("maximum"), **common)
    if json_type == "string":
        max_length = inner.get("maxLength")
        long = name in _LONG_TEXT_NAMES or (isinstance(max_length, int) and max_length > 1000)
        return FieldSpec(kind="textarea" if long else "text", **common)
    if json_type == "array":
        items = _resolve(inner.get("items") or {}, root)
        if items.get("type") == "string":
            return FieldSpec(kind="list", **common)
        return FieldSpec(kind="json", json_type="array", **common)
    if json_type == "object" or "properties" in inner:
        return FieldSpec(kind="json", json_type="object", **common)
    return FieldSpec(kind="any", **common)


def fields_from_schema(schema: dict[str, Any], connection_types: tuple[str, ...] = ()) -> list[FieldSpec]:
    """Every property of an action's Config schema, in declaration order."""
    required = set(schema.get("required") or [])
    return [
        field_from_property(name, prop, schema, name in required, connection_types)
        for name, prop in (schema.get("properties") or {}).items()
    ]


# --------------------------------------------------------------------------- raw <-> value


def initial_raw(spec: FieldSpec) -> str:
    """What a new step's field starts with: enums and switches show their default, text stays empty
    (the default shows as a placeholder and applies when the field is left empty)."""
    if spec.kind in ("enum", "bool") and spec.default is not None:
        return to_raw(spec, spec.default)
    return ""


def to_raw(spec: FieldSpec, value: Any) -> str:
    """A config value as the text the form edits."""
    if value is None:
        return ""
    if spec.kind == "bool":
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if spec.kind == "list":
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        return str(value)
    if spec.kind in ("json", "any"):
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer() and spec.kind == "number":
        return str(int(value))
    return str(value)


class FieldError(ValueError):
    """The text in one field cannot become a value of its type; shown next to the field."""


_MISSING = object()


def from_raw(spec: FieldSpec, raw: str) -> Any:
    """Convert form text to a config value; returns ``MISSING`` when the key should be left out.

    Raises FieldError with a short, human message for text that cannot be converted.
    """
    text = raw if spec.kind in ("textarea", "text", "password") else raw.strip()
    if text == "" or (spec.kind != "bool" and not text.strip()):
        return _MISSING
    if has_expression(text) and spec.kind not in ("json", "any", "list"):
        return text
    if spec.kind == "bool":
        return text.strip().lower() in ("true", "1", "yes", "on")
    if spec.kind == "number":
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            raise FieldError("must be a number") from None
        if spec.integer:
            if not number.is_integer():
                raise FieldError("must be a whole number")
            return int(number)
        return int(number) if number.is_integer() and "." not in text else number
    if spec.kind == "list":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if spec.kind == "json":
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise FieldError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
        wanted = dict if spec.json_type == "object" else list
        if not isinstance(value, wanted):
            raise FieldError(f"must be a JSON {'object {…}' if wanted is dict else 'list […]'}")
        return value
    if spec.kind == "any":
        if text[0] in "{[":
            try:
                return json.loads(text)
            except ValueError as exc:
                if has_expression(text) and not text.startswith(("{\"", "[")):
                    return text  # "{{ trigger.body.amount > 100 }}" is an expression, not broken JSON
                raise FieldError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
        return text
    return text


MISSING = _MISSING


def json_error(spec: FieldSpec, raw: str) -> str:
    """Live feedback while typing in a JSON field ("" when fine)."""
    if spec.kind not in ("json", "any"):
        return ""
    try:
        from_raw(spec, raw)
    except FieldError as exc:
        return str(exc)
    return ""
