"""What a gallery template is: metadata, typed variables, and a builder for the definition.

Templates are Python, not JSON text with holes: a builder receives the *validated, typed*
variable values and returns a workflow definition as a dict, so a value can never break out of
its place (no string concatenation into JSON). Values that end up inside step config strings
are additionally protected from the expression engine: text containing ``{`` or ``}`` is
embedded as a Jinja string literal (``{{ "..." }}``), so a business name such as
``{{ run.id }} & Co`` is shown as written instead of being evaluated. Values used in HTML are
HTML-escaped first.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from croniter import croniter
from email_validator import EmailNotValidError, validate_email

VarType = Literal[
    "string", "text", "email", "emails", "int", "bool", "enum", "cron", "timezone", "url", "path", "phone",
    "sender", "connection",
]
_PLACEHOLDER = re.compile(r"\[\[([a-z_][a-z0-9_]*)\]\]")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


class VariableError(ValueError):
    """A single variable value is invalid; the message is shown next to the field."""


@dataclass(frozen=True)
class Variable:
    """One input of a template, with its type, default and validation rules."""

    name: str
    title: str
    type: VarType
    default: Any
    description: str
    required: bool = True
    min: int | None = None
    max: int | None = None
    max_length: int = 200
    choices: tuple[str, ...] = ()
    connection_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"bad variable name {self.name!r}")
        if self.type == "enum" and not self.choices:
            raise ValueError(f"enum variable {self.name!r} needs choices")
        if self.type == "connection" and not self.connection_types:
            raise ValueError(f"connection variable {self.name!r} needs connection_types")

    def public(self) -> dict[str, Any]:
        """The JSON the gallery's variable form is rendered from."""
        out: dict[str, Any] = {"name": self.name, "title": self.title, "type": self.type, "default": self.default,
                               "description": self.description, "required": self.required}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.type in ("string", "text"):
            out["max_length"] = self.max_length
        if self.choices:
            out["choices"] = list(self.choices)
        if self.connection_types:
            out["connection_types"] = list(self.connection_types)
        return out

    def parse(self, raw: Any) -> Any:
        """Validate and normalise one value (CLI values arrive as strings). Raises VariableError."""
        if raw is None or (isinstance(raw, str) and not raw.strip() and self.type not in ("text",)):
            if self.required:
                raise VariableError("required")
            return [] if self.type == "emails" else ("" if self.type not in ("int", "bool") else None)
        parser = getattr(self, f"_parse_{self.type}")
        return parser(raw)

    # -- one parser per type -------------------------------------------------------------

    def _text(self, raw: Any) -> str:
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise VariableError("must be text")
        text = str(raw)
        if len(text) > self.max_length:
            raise VariableError(f"must be at most {self.max_length} characters")
        return text

    def _parse_string(self, raw: Any) -> str:
        text = " ".join(self._text(raw).split())
        if self.required and not text:
            raise VariableError("required")
        return text

    def _parse_text(self, raw: Any) -> str:
        text = self._text(raw).strip()
        if self.required and not text:
            raise VariableError("required")
        return text

    def _parse_email(self, raw: Any) -> str:
        try:
            return validate_email(str(raw).strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise VariableError(f"not a valid email address: {exc}") from None

    def _parse_emails(self, raw: Any) -> list[str]:
        items = raw if isinstance(raw, list | tuple) else str(raw).replace(";", ",").split(",")
        out = [self._parse_email(item) for item in items if str(item).strip()]
        if self.required and not out:
            raise VariableError("at least one email address is required")
        if len(out) > 50:
            raise VariableError("at most 50 addresses")
        return out

    def _parse_int(self, raw: Any) -> int:
        if isinstance(raw, bool):
            raise VariableError("must be a whole number")
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        try:
            value = raw if isinstance(raw, int) else int(str(raw).strip())
        except ValueError:
            raise VariableError("must be a whole number") from None
        if self.min is not None and value < self.min or self.max is not None and value > self.max:
            raise VariableError(f"must be between {self.min} and {self.max}")
        return value

    def _parse_bool(self, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise VariableError("must be true or false")

    def _parse_enum(self, raw: Any) -> str:
        text = str(raw).strip()
        if text not in self.choices:
            raise VariableError(f"must be one of: {', '.join(self.choices)}")
        return text

    def _parse_cron(self, raw: Any) -> str:
        text = " ".join(str(raw).split())
        if len(text.split(" ")) != 5 or not croniter.is_valid(text):
            raise VariableError("must be a five-field cron expression, e.g. '0 9 * * 1-5'")
        return text

    def _parse_timezone(self, raw: Any) -> str:
        text = str(raw).strip()
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise VariableError("must be an IANA time zone such as Australia/Sydney") from None
        return text

    def _parse_url(self, raw: Any) -> str:
        text = str(raw).strip()
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, TypeError):
            raise VariableError("must be a full http:// or https:// URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise VariableError("must be a full http:// or https:// URL")
        if url.userinfo:
            raise VariableError("must not contain a user name or password (use a connection)")
        if len(text) > 2000:
            raise VariableError("must be at most 2000 characters")
        return text

    def _parse_path(self, raw: Any) -> str:
        text = str(raw).strip()
        if not text.startswith("/") or text.startswith("//") or any(ch.isspace() for ch in text) or len(text) > 500:
            raise VariableError("must be a path starting with /, e.g. /reports/daily")
        return text

    def _parse_phone(self, raw: Any) -> str:
        from engine.actions.sms_send import normalise_number
        from engine.errors import PermanentError

        try:
            return normalise_number(str(raw), "AU")
        except PermanentError as exc:
            raise VariableError(str(exc)) from None

    def _parse_sender(self, raw: Any) -> str:
        from engine.actions.sms_send import normalise_sender
        from engine.errors import PermanentError

        try:
            return normalise_sender(str(raw), "AU") or ""
        except PermanentError as exc:
            raise VariableError(str(exc)) from None

    def _parse_connection(self, raw: Any) -> str:
        text = str(raw).strip()
        if not text or len(text) > 200:
            raise VariableError("must be the name of a connection")
        return text


def jinja_literal(text: str) -> str:
    """``{{ "text" }}``: renders to exactly ``text`` whatever it contains."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '{{ "' + escaped + '" }}'


def protect(text: str) -> str:
    """Make a user value safe to place inside a step config string (no accidental expressions)."""
    return jinja_literal(text) if ("{" in text or "}" in text) else text


class Values(Mapping[str, Any]):
    """Validated values handed to a template's builder."""

    def __init__(self, values: dict[str, Any]):
        self._values = dict(values)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def text(self, name: str) -> Any:
        """The value for a step config field: strings are protected from expression evaluation."""
        value = self._values[name]
        if isinstance(value, str):
            return protect(value)
        if isinstance(value, list):
            return [protect(v) if isinstance(v, str) else v for v in value]
        return value

    def fmt(self, template: str, *, html_escape: bool = False) -> str:
        """Replace ``[[name]]`` placeholders in a template-authored string with protected values.

        ``template`` may itself contain ``{{ }}`` expressions (they are the template's own,
        trusted). ``html_escape=True`` escapes values for use in an HTML body.
        """

        def sub(match: re.Match[str]) -> str:
            value = self._values[match.group(1)]
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            return protect(html.escape(text) if html_escape else text)

        return _PLACEHOLDER.sub(sub, template)


Builder = Callable[[Values], dict[str, Any]]


@dataclass(frozen=True)
class Template:
    """A gallery entry: metadata + variables + builder + a sample trigger payload for previews."""

    slug: str
    name: str
    description: str
    category: str
    tags: tuple[str, ...]
    variables: tuple[Variable, ...]
    build: Builder
    sample_payload: dict[str, Any] = field(default_factory=dict)

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {v.name: v.default for v in self.variables}

    def connections(self) -> list[dict[str, Any]]:
        """Which connections the workflow needs: one entry per connection variable."""
        return [{"variable": v.name, "title": v.title, "types": list(v.connection_types), "default": v.default}
                for v in self.variables if v.type == "connection"]

    def connection_types(self) -> list[str]:
        return sorted({t for v in self.variables if v.type == "connection" for t in v.connection_types})
