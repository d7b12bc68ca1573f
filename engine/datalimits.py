"""Limits on the shape and size of data FlowMate accepts and stores.

- :func:`json_depth` / :func:`check_json_depth`: nesting depth of decoded JSON, measured without
  recursion (a payload nested thousands deep must fail with a named 4xx, not a RecursionError
  somewhere in serialisation or the API's response model);
- :func:`storable_step_data`: a step's input or output made JSON-safe and capped at
  FLOWMATE_STEP_DATA_MAX_BYTES; larger data is replaced by a marker that says so and keeps the
  original size, so one step cannot write a 30 MB row (and later steps see the same marker the
  run history shows).
"""

from __future__ import annotations

import json
from typing import Any

from engine.errors import ValidationFailed

#: Key of the marker that replaces step data over the cap.
TRUNCATED_KEY = "flowmate_truncated"


def json_depth(value: Any, stop_at: int | None = None) -> int:
    """Depth of nested dicts/lists in ``value`` (a scalar is 0, ``[]`` is 1); stops past ``stop_at``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_at is not None and deepest > stop_at:
                    return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth) for child in children if isinstance(child, dict | list | tuple))
    return deepest


def check_json_depth(value: Any, limit: int, field: str) -> None:
    """Raise ValidationFailed (422) naming ``field`` and the limit when ``value`` is nested deeper."""
    if json_depth(value, stop_at=limit) > limit:
        raise ValidationFailed(f"{field} is nested more than {limit} levels deep",
                               {field: f"nested more than {limit} levels deep (FLOWMATE_MAX_JSON_DEPTH)"})


def _default(obj: Any) -> Any:
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    return str(obj)


def storable_step_data(value: Any, limit: int) -> Any:
    """``value`` as plain JSON data (datetimes, decimals, sets become strings/lists), or the
    truncation marker when its JSON is larger than ``limit`` bytes."""
    try:
        text = json.dumps(value, default=_default, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = json.dumps(str(value), ensure_ascii=False)
    size = len(text) if text.isascii() else len(text.encode("utf-8", errors="replace"))
    if size > limit:
        return {TRUNCATED_KEY: {"original_bytes": size, "limit_bytes": limit,
                                "reason": "larger than FLOWMATE_STEP_DATA_MAX_BYTES; not stored"}}
    return json.loads(text)
