"""The bell's one read: what is new for this member since their last "Mark all as seen".

Kept apart from the state so it is testable without Reflex: it turns engine.services.notifications
into the strings the dropdown shows ("5 min ago", the workflow name, the error summary).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.db import session_scope
from engine.services import notifications
from engine.services.actor import Actor
from flowmate_app.formatting import fmt_ago, parse_iso


def read_bell(actor: Actor, seen_at: str = "", now: datetime | None = None) -> tuple[int, list[dict[str, str]]]:
    """``(badge count, newest 10 rows)``; ``seen_at`` is the ISO time of the last "seen" (or "")."""
    with session_scope() as session:
        data: dict[str, Any] = notifications.unseen(session, actor, parse_iso(seen_at), now=now)
    rows = [{"kind": i["kind"], "id": i["id"], "title": i["title"], "detail": i["detail"], "href": i["href"],
             "ago": fmt_ago(i["at"], now), "at": i["at"]} for i in data["items"]]
    return data["count"], rows
