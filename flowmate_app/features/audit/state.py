"""Audit log: who changed what and when, filterable, newest first, keyset pages."""

from __future__ import annotations

from datetime import timedelta

import reflex as rx

from engine.db import session_scope, utcnow
from engine.errors import FlowMateError
from engine.services.audit import list_audit
from flowmate_app.auth import AuthState, error_text
from flowmate_app.formatting import fmt_ago, fmt_time, pretty_json

PAGE_SIZE = 50
AREAS = {"all": "Everything", "workflow.": "Workflows", "run.": "Runs", "connection.": "Connections",
         "member.": "Members", "workspace.": "Workspace", "token.": "API tokens"}
RANGES = {"24h": ("Last 24 hours", timedelta(days=1)), "7d": ("Last 7 days", timedelta(days=7)),
          "30d": ("Last 30 days", timedelta(days=30)), "all": ("All time", None)}


class AuditState(AuthState):
    loading: bool = True
    load_error: str = ""
    entries: list[dict[str, str]] = []
    filter_area: str = "all"
    filter_range: str = "30d"
    filter_who: str = ""
    next_cursor: str = ""
    loading_more: bool = False

    def _fetch(self, cursor: str | None) -> tuple[list[dict[str, str]], str]:
        actor = self.actor()
        if actor is None:
            return [], ""
        delta = RANGES.get(self.filter_range, RANGES["30d"])[1]
        with session_scope() as session:
            page = list_audit(session, actor, action=None if self.filter_area == "all" else self.filter_area,
                              actor_label=self.filter_who or None, since=utcnow() - delta if delta else None,
                              cursor=cursor, limit=PAGE_SIZE)
        tz = self.workspace_timezone
        rows = [
            {"id": e["id"], "actor": e["actor"], "action": e["action"], "object_type": e["object_type"],
             "object_id": (e["object_id"] or "")[:12], "when": fmt_time(e["created_at"], tz, seconds=True),
             "ago": fmt_ago(e["created_at"]), "changes": pretty_json(e["changes"]) if e["changes"] else ""}
            for e in page["items"]
        ]
        return rows, page["next_cursor"] or ""

    def _reload(self) -> None:
        try:
            self.entries, self.next_cursor = self._fetch(None)
            self.load_error = ""
        except FlowMateError as exc:
            self.load_error = error_text(exc)
        except Exception:
            self.load_error = "The audit log could not be loaded. Try again in a moment."
        self.loading = False

    @rx.event
    def load(self) -> None:
        self._reload()

    @rx.event
    def set_filter_area(self, value: str) -> None:
        self.filter_area = value if value in AREAS else "all"
        self.loading = True
        self._reload()

    @rx.event
    def set_filter_range(self, value: str) -> None:
        self.filter_range = value if value in RANGES else "30d"
        self.loading = True
        self._reload()

    @rx.event
    def set_filter_who(self, value: str) -> None:
        self.filter_who = value[:200]
        self.loading = True
        self._reload()

    @rx.event
    def load_more(self) -> None:
        if not self.next_cursor:
            return
        self.loading_more = True
        try:
            more, self.next_cursor = self._fetch(self.next_cursor)
            self.entries = self.entries + more
        except FlowMateError as exc:
            self.load_error = error_text(exc)
        self.loading_more = False
