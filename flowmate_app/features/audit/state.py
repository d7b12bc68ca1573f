"""Audit log: who changed what and when, filterable, newest first, keyset pages; the hash-chain
check, export with the current filters, and (owners) streaming to a webhook or syslog."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import reflex as rx

from engine import audit_events
from engine.db import session_scope, utcnow
from engine.errors import FlowMateError
from engine.services import audit_stream
from engine.services.audit import export_audit, list_audit, verify_workspace
from flowmate_app.auth import AuthState, error_text
from flowmate_app.formatting import fmt_ago, fmt_time, pretty_json

PAGE_SIZE = 50
#: Friendly names for the areas of engine/audit_events.py; an area without one still appears.
AREA_LABELS = {"auth": "Sign-in", "user": "People", "session": "Browser sessions", "account": "Accounts",
               "workspace": "Workspace", "member": "Members", "invitation": "Invitations", "token": "API tokens",
               "workflow": "Workflows", "run": "Runs", "connection": "Connections (incl. OAuth)",
               "keys": "Encryption keys", "audit": "Audit trail", "contact": "Contacts", "consent": "Consent",
               "suppression": "Suppression list", "messaging": "Messaging", "export": "Data exports (governance)",
               "subject": "Data-subject erasure (governance)", "retention": "Retention (governance)"}


def area_options(areas: list[str]) -> dict[str, str]:
    """Filter value (``"<area>."``, matched as an action prefix) → label, for every area the trail
    can contain: the list follows the vocabulary, so a new area appears without editing this page."""
    return {"all": "Everything", **{f"{area}.": AREA_LABELS.get(area, area.replace("_", " ").capitalize())
                                   for area in areas}}


AREAS = area_options(audit_events.AREAS)
#: The page hands the file to the browser over its websocket; bigger exports use the API (streamed).
MAX_EXPORT_ROWS = 20_000
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
    chain_ok: bool = True
    chain_checked: bool = False
    chain_rows: int = 0
    chain_message: str = ""
    chain_broken_seq: str = ""
    export_error: str = ""
    # streaming (admins see it, owners change it)
    stream_kind: str = "webhook"
    stream_url: str = ""
    stream_host: str = ""
    stream_port: str = ""
    stream_protocol: str = "tcp"
    stream_exists: bool = False
    stream_status: str = ""
    stream_error: str = ""
    stream_secret: str = ""
    stream_saving: bool = False

    def _fetch(self, cursor: str | None) -> tuple[list[dict[str, str]], str]:
        actor = self.actor()
        if actor is None:
            return [], ""
        with session_scope() as session:
            page = list_audit(session, actor, **self._filters(), cursor=cursor, limit=PAGE_SIZE)
        tz = self.workspace_timezone
        rows = [
            {"id": e["id"], "seq": str(e["seq"]), "actor": e["actor"], "action": e["action"],
             "object_type": e["object_type"],
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

    def _filters(self) -> dict:
        delta = RANGES.get(self.filter_range, RANGES["30d"])[1]
        return {"action": None if self.filter_area == "all" else self.filter_area,
                "actor_label": self.filter_who or None, "since": utcnow() - delta if delta else None}

    def _check_chain(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                result = verify_workspace(session, actor)
        except Exception:
            self.chain_checked, self.chain_ok, self.chain_message = True, False, "The chain could not be checked."
            return
        self.chain_checked, self.chain_ok, self.chain_rows = True, result["ok"], result["rows"]
        broken = result["broken"]
        self.chain_broken_seq = str(broken["seq"]) if broken else ""
        if broken:
            what = f"row #{broken['seq']}"
            if broken.get("action"):
                when = fmt_time(broken["created_at"], self.workspace_timezone, seconds=True)
                what += f" ({broken['action']}, {when})"
            self.chain_message = f"Chain broken at {what}: {broken['reason']}."
        else:
            self.chain_message = f"Chain verified: all {result['rows']} rows are intact and in order."

    def _load_stream(self) -> None:
        actor = self.actor()
        if actor is None or not self.is_admin:
            return
        with session_scope() as session:
            stream = audit_stream.get_stream(session, actor)
        self.stream_exists = stream is not None
        if stream is None:
            self.stream_status = "Not streaming."
            return
        cfg = stream["config"]
        self.stream_kind = stream["kind"]
        self.stream_url = cfg.get("url", "")
        self.stream_host, self.stream_port = cfg.get("host", ""), str(cfg.get("port", "") or "")
        self.stream_protocol = cfg.get("protocol", "tcp")
        when = fmt_ago(stream["last_delivered_at"]) if stream["last_delivered_at"] else "nothing yet"
        status = f"Delivered up to row #{stream['cursor_seq']} · {stream['pending']} waiting · last delivery {when}"
        if stream["last_error"]:
            status += f" · retrying after {stream['failures']} failure(s): {stream['last_error']}"
        self.stream_status = status

    @rx.event
    def load(self) -> None:
        self.stream_secret = ""
        self._reload()
        self._check_chain()
        try:
            self._load_stream()
        except FlowMateError as exc:
            self.stream_error = error_text(exc)

    @rx.event
    def export(self, fmt: str) -> Any:
        """Download the trail with the filters on screen (CSV or JSON Lines, oldest first)."""
        actor = self.actor()
        if actor is None or fmt not in ("csv", "jsonl"):
            return None
        try:
            with session_scope() as session:
                chunks = export_audit(session, actor, fmt, max_rows=MAX_EXPORT_ROWS, **self._filters())
                session.commit()
                data = "".join(chunks)
        except FlowMateError as exc:
            self.export_error = error_text(exc)
            return None
        rows = data.count("\n") - (1 if fmt == "csv" else 0)
        self.export_error = (f"Only the oldest {MAX_EXPORT_ROWS} rows are in this file: narrow the filters, or use "
                             "GET /api/v1/audit/export for everything." if rows >= MAX_EXPORT_ROWS else "")
        stamp = utcnow().strftime("%Y%m%d-%H%M")
        self._reload()
        return rx.download(data=data, filename=f"audit-{stamp}.{fmt}")

    @rx.event
    def set_stream_kind(self, value: str) -> None:
        self.stream_kind = value if value in ("webhook", "syslog") else "webhook"

    @rx.event
    def set_stream_protocol(self, value: str) -> None:
        self.stream_protocol = value if value in ("tcp", "udp") else "tcp"

    @rx.event
    def save_stream(self, form: dict) -> None:
        actor = self.actor()
        if actor is None:
            return
        raw: dict = {"kind": self.stream_kind}
        if self.stream_kind == "webhook":
            raw["url"] = str(form.get("url") or "").strip()
        else:
            port = str(form.get("port") or "").strip()
            raw.update(host=str(form.get("host") or "").strip(), protocol=self.stream_protocol,
                       port=int(port) if port.isdigit() else None)
        self.stream_saving = True
        try:
            with session_scope() as session:
                out = audit_stream.set_stream(session, actor, raw)
            self.stream_secret = out.get("secret") or ""
            self.stream_error = ""
            self._load_stream()
            self._reload()
        except FlowMateError as exc:
            self.stream_error = error_text(exc)
        self.stream_saving = False

    @rx.event
    def stop_stream(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                audit_stream.delete_stream(session, actor)
            self.stream_secret, self.stream_error = "", ""
            self._load_stream()
            self._reload()
        except FlowMateError as exc:
            self.stream_error = error_text(exc)

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
