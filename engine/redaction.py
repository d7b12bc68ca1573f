"""Keep secrets out of logs, audit rows, run data and API responses.

Two complementary nets: values under secret-looking keys (``password``, ``api_key``,
``Authorization`` ...) and ``SecretStr`` values are replaced wholesale, and any occurrence of a
*known* secret string (e.g. a connection's decrypted token echoed back in an error body) is
replaced wherever it appears inside other strings. Query-string values under secret-looking
names (``https://api.example.com/v1?api_key=...``) are masked inside any string, so a secret
rendered into a URL does not show in step input, errors or logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, SecretBytes, SecretStr

REDACTED = "••••••"

#: Minimum length of a known secret we replace inside strings (shorter would shred normal text).
MIN_SECRET_LENGTH = 4

#: A key is secret when one of its words is one of these ...
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "token",
        "apikey",
        "authorization",
        "auth",
        "signature",
        "credential",
        "credentials",
        "cookie",
        "privatekey",
    }
)
#: ... or when its words run together contain one of these (``clientSecret``, ``X-Api-Key``).
_SECRET_FRAGMENTS = (
    "password",
    "passwd",
    "secret",
    "apikey",
    "privatekey",
    "authtoken",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "sessiontoken",
    "bearertoken",
    "accesskey",
    "signingkey",
    "encryptionkey",
    "credential",
)
#: Keys that contain a secret word but only describe metadata about it.
_NOT_SECRET_SUFFIXES = (
    "count",
    "counts",
    "type",
    "types",
    "url",
    "uri",
    "endpoint",
    "id",
    "ids",
    "name",
    "expires",
    "expires_at",
    "expires_in",
    "expiry",
    "prefix",
    "hint",
    "length",
    "hash",
    "method",
    "scheme",
    "mode",
    "required",
    "enabled",
    "at",
    "limit",
    "usage",
    # which secret fields are set/changed (a list of names, never values)
    "set",
    "changed",
    "fields",
)
_SPLIT = re.compile(r"[^a-z0-9]+")
#: ``name=value`` pairs of a query string (after ``?``, ``&`` or ``;``).
_QUERY_PAIR = re.compile(r"(?<=[?&;])([^=&#\s?;]{1,100})=([^&#\s;]*)")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _normalise(name: str) -> str:
    """``X-Api-Key`` / ``apiKey`` / ``API_KEY`` → ``x_api_key`` / ``api_key`` / ``api_key``."""
    return "_".join(part for part in _SPLIT.split(_CAMEL.sub("_", name).lower()) if part)


def is_secret_key(name: str) -> bool:
    """True for dict keys whose value is a secret (password, api_key, Authorization, ...).

    Metadata keys such as ``token_count``, ``token_type``, ``auth_url`` or ``password_hint`` are
    not secret: a key is skipped when its last word describes the secret rather than holding it.
    """
    if not isinstance(name, str) or not name:
        return False
    norm = _normalise(name)
    if not norm:
        return False
    words = norm.split("_")
    if len(words) > 1 and words[-1] in _NOT_SECRET_SUFFIXES:
        return False
    if norm in _NOT_SECRET_SUFFIXES:
        return False
    if any(word in _SECRET_WORDS for word in words):
        return True
    compact = "".join(words)
    return any(fragment in compact for fragment in _SECRET_FRAGMENTS)


def _known(secrets: Iterable[Any]) -> list[str]:
    values = []
    for secret in secrets:
        if isinstance(secret, SecretStr):
            secret = secret.get_secret_value()
        if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
            values.append(secret)
    # longest first so a secret containing another one is replaced whole
    return sorted(set(values), key=len, reverse=True)


def redact(value: Any, secrets: Iterable[Any] = ()) -> Any:
    """Return a copy of ``value`` with secrets replaced by ``REDACTED``.

    Replaces values under secret-looking keys, ``SecretStr``/``SecretBytes`` values anywhere, and
    every occurrence of the given known secret strings (at least 4 characters) inside strings.
    Dicts, lists and tuples are copied; the input is never modified.
    """
    return _redact(value, _known(secrets))


def redact_query_values(text: str) -> str:
    """Mask the values of secret-looking query parameters in ``text`` (``?token=abc`` → ``?token=••••••``)."""
    if "=" not in text or ("?" not in text and "&" not in text):
        return text

    def mask(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        return f"{name}={REDACTED}" if value and is_secret_key(unquote_plus(name)) else match.group(0)

    return _QUERY_PAIR.sub(mask, text)


def _redact_string(text: str, known: list[str]) -> str:
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return redact_query_values(text)


def _redact(value: Any, known: list[str]) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, str):
        return _redact_string(value, known)
    if isinstance(value, BaseModel):
        return _redact(value.model_dump(mode="python"), known)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and is_secret_key(key) and item not in (None, ""):
                out[key] = REDACTED
            else:
                out[key] = _redact(item, known)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(item, known) for item in value]
    return value


def redact_model(model: BaseModel, secrets: Iterable[Any] = ()) -> dict[str, Any]:
    """Dump a pydantic model (e.g. an action Config) for display/logging with secrets redacted.

    ``SecretStr`` fields, fields with secret-looking names and known secret strings are redacted.
    """
    # model_dump(mode="python") keeps SecretStr objects, which _redact replaces.
    result = _redact(model.model_dump(mode="python"), _known(secrets))
    return result if isinstance(result, dict) else {}
