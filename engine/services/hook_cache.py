"""A one-second, per-process memo of webhook lookups (token → trigger and workflow facts).

The intake answers hundreds of requests per second for the same few tokens; the lookup is a
join that never changes between edits. Mutations in this process clear the memo at once
(engine.services.workflows calls :func:`forget`); other processes see an edit within
``TTL_SECONDS``. Unknown tokens are never memoised, so a new webhook works immediately.
"""

from __future__ import annotations

import threading
import time
from typing import Any

TTL_SECONDS = 1.0
_lock = threading.Lock()
_entries: dict[str, tuple[float, dict[str, Any]]] = {}


def get(token: str) -> dict[str, Any] | None:
    entry = _entries.get(token)
    if entry is None or entry[0] < time.monotonic():
        return None
    return entry[1]


def put(token: str, facts: dict[str, Any]) -> None:
    with _lock:
        if len(_entries) > 10_000:
            _entries.clear()
        _entries[token] = (time.monotonic() + TTL_SECONDS, facts)


def forget() -> None:
    """Drop every memoised lookup (a workflow or trigger changed in this process)."""
    with _lock:
        _entries.clear()
