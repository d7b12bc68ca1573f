"""Turning service values (ISO timestamps, milliseconds, JSON) into text people read.

States format on the backend so pages receive plain strings: Reflex renders strings as text
nodes, so anything a user typed is always escaped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def fmt_time(value: str | None, tz: str | None = "UTC", *, seconds: bool = False) -> str:
    """"14 Mar 2:05 pm" in the workspace's time zone (the year only when it is not this year)."""
    at = parse_iso(value)
    if at is None:
        return "—"
    local = at.astimezone(_zone(tz))
    now = datetime.now(_zone(tz))
    day = f"{local.day} {local.strftime('%b')}" + ("" if local.year == now.year else f" {local.year}")
    clock = local.strftime("%I:%M:%S %p" if seconds else "%I:%M %p").lstrip("0").lower()
    return f"{day} {clock}"


def fmt_ago(value: str | None, now: datetime | None = None) -> str:
    """"just now", "5 min ago", "3 h ago", "2 d ago"."""
    at = parse_iso(value)
    if at is None:
        return "never"
    delta = ((now or datetime.now(UTC)) - at).total_seconds()
    if delta < 45:
        return "just now"
    if delta < 3600:
        return f"{round(delta / 60)} min ago"
    if delta < 86400:
        return f"{round(delta / 3600)} h ago"
    return f"{round(delta / 86400)} d ago"


def fmt_duration(ms: int | float | None) -> str:
    """"840 ms", "2.4 s", "3 min 12 s", "1 h 5 min"."""
    if ms is None:
        return "—"
    ms = float(ms)
    if ms < 1000:
        return f"{int(ms)} ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def pretty_json(value: Any) -> str:
    """Indented JSON for display (never evaluated as markup)."""
    if value is None:
        return ""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    except (TypeError, ValueError):
        return str(value)
