"""Opaque keyset cursors: stable and fast at any depth (no OFFSET scans over 100,000 runs)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import or_

from engine.db import as_aware
from engine.errors import ValidationFailed


def encode_cursor(created_at: datetime, obj_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), obj_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, obj_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(stamp), str(obj_id)
    except (ValueError, TypeError):
        raise ValidationFailed("invalid cursor", {"cursor": "not a cursor returned by this API"}) from None


def clamp_limit(limit: int | None, default: int = 50, maximum: int = 200) -> int:
    if limit is None:
        return default
    if limit < 1 or limit > maximum:
        raise ValidationFailed("invalid limit", {"limit": f"must be between 1 and {maximum}"})
    return limit


def keyset_page(session: Any, stmt: Any, model: Any, *, cursor: str | None, limit: int | None,
                public: Callable[[Any], Any]) -> dict[str, Any]:
    """One page of ``stmt`` newest first, keyset-paginated on ``(model.created_at, model.id)``.

    The one copy of the pagination rule every list uses (workflows, runs, audit): ``limit`` is
    checked, the cursor continues strictly after the last row of the previous page, one extra
    row tells whether a next page exists, and ``public`` turns each row into its public shape.
    """
    limit = clamp_limit(limit)
    if cursor:
        at, last_id = decode_cursor(cursor)
        stmt = stmt.where(or_(model.created_at < at, (model.created_at == at) & (model.id < last_id)))
    rows = session.exec(stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)).all()
    next_cursor = (encode_cursor(as_aware(rows[limit - 1].created_at), rows[limit - 1].id)
                   if len(rows) > limit else None)
    return {"items": [public(row) for row in rows[:limit]], "next_cursor": next_cursor}
