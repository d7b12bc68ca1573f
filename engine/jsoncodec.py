"""How FlowMate writes JSON to the database: one encoding, the same on SQLite and PostgreSQL.

PostgreSQL's ``jsonb`` refuses the NUL character (``\\u0000``) anywhere in a string, while
webhook callers, HTTP APIs and step outputs may legitimately contain it. Dropping or replacing
it would change what the user sent, so strings are escaped reversibly instead, with the
Unicode noncharacter U+FFFE (never valid in interchanged text, so it never occurs in practice)
as the escape: ``U+FFFE`` → ``U+FFFE U+FFFE`` and NUL → ``U+FFFE "0"``. Reading undoes it, so
every value round-trips exactly. Object keys are escaped the same way.

The common case costs two substring scans of the serialised text: only a value that contains
a NUL or the escape character is walked and re-serialised.
"""

from __future__ import annotations

import json
from typing import Any

ESCAPE = "\ufffe"
_NUL_IN_JSON = "\\u0000"  # json.dumps always writes NUL as this escape


def _encode_str(text: str) -> str:
    if ESCAPE in text:
        text = text.replace(ESCAPE, ESCAPE + ESCAPE)
    if "\x00" in text:
        text = text.replace("\x00", ESCAPE + "0")
    return text


def _decode_str(text: str) -> str:
    if ESCAPE not in text:
        return text
    out: list[str] = []
    i = 0
    while True:
        j = text.find(ESCAPE, i)
        if j < 0 or j + 1 >= len(text):
            out.append(text[i:])
            break
        out.append(text[i:j])
        marker = text[j + 1]
        out.append("\x00" if marker == "0" else marker)
        i = j + 2
    return "".join(out)


def _walk(value: Any, convert: Any) -> Any:
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, dict):
        return {convert(k) if isinstance(k, str) else k: _walk(v, convert) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, convert) for v in value]
    return value


def dumps(value: Any) -> str:
    """Serialise for storage (the engine's ``json_serializer``)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if _NUL_IN_JSON in text or ESCAPE in text:
        text = json.dumps(_walk(value, _encode_str), ensure_ascii=False, default=str)
    return text


def loads(text: str | bytes) -> Any:
    """Deserialise what :func:`dumps` stored (the engine's ``json_deserializer``)."""
    value = json.loads(text)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if ESCAPE in text:
        value = _walk(value, _decode_str)
    return value


def clean_text(text: str | None) -> str | None:
    """For plain text columns (error messages, results): NUL becomes U+FFFD, visibly."""
    if text is not None and "\x00" in text:
        return text.replace("\x00", "\ufffd")
    return text
