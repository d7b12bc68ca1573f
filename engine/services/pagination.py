"""Opaque keyset cursors: stable and fast at any depth (no OFFSET scans over 100,000 runs)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

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
