"""Small helpers shared by the routers."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Query

Cursor = Query(None, max_length=512, description="`next_cursor` of the previous page")
Limit = Query(None, ge=1, le=200, description="Page size (default 50, at most 200)")


def aware(value: datetime | None) -> datetime | None:
    """Treat a time without a zone as UTC (every stored time is UTC)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
