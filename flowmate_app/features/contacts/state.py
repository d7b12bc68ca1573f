"""Contacts: search, consent history, consent changes, suppression, CSV import/export, and the
inbound-SMS addresses that let STOP replies reach FlowMate. All through engine.services.contacts."""

from __future__ import annotations

from typing import Any

import reflex as rx

from engine.config import get_settings
from engine.db import session_scope
from engine.errors import FlowMateError
from engine.services import contacts as service
from flowmate_app.auth import AuthState, error_text
from flowmate_app.formatting import fmt_time

PAGE_SIZE = 25
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
CONSENT_LABELS = {"granted": "Opted in", "withdrawn": "Opted out", "unknown": "No consent"}


class ContactsState(AuthState):
    loading: bool = True
    load_error: str = ""
    items: list[dict[str, str]] = []
    total: int = 0
    offset: int = 0
    search: str = ""

    selected_id: str = ""
    detail: dict[str, str] = {}
    history: list[dict[str, str]] = []
    detail_error: str = ""
    consent_error: str = ""
    consent_channel: str = "email"
    consent_status: str = "granted"

    add_error: str = ""
    suppress_error: str = ""
    suppress_channel: str = "email"
    notice: str = ""
    import_summary: str = ""
    import_errors: list[str] = []
    importing: bool = False

    twilio_url: str = ""
    clicksend_url: str = ""
    clicksend_set: bool = False
    inbound_error: str = ""

    # -- loading ---------------------------------------------------------------------------

    def _row(self, c: dict[str, Any]) -> dict[str, str]:
        return {"id": c["id"], "name": c["name"] or "—", "email": c["email"] or "—", "phone": c["phone"] or "—",
                "email_consent": c["email_consent"], "sms_consent": c["sms_consent"],
                "email_label": CONSENT_LABELS[c["email_consent"]], "sms_label": CONSENT_LABELS[c["sms_consent"]],
                "suppressed": ", ".join(ch for ch, flag in (("email", c["email_suppressed"]),
                                                            ("SMS", c["sms_suppressed"])) if flag),
                "added": fmt_time(c["created_at"], self.workspace_timezone)}

    def _reload(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                page = service.list_contacts(session, actor, search=self.search or None, offset=self.offset,
                                             limit=PAGE_SIZE)
                self.clicksend_set = service.inbound_status(session, actor)["clicksend_secret_set"]
            self.items = [self._row(c) for c in page["items"]]
            self.total = page["total"]
            self.load_error = ""
        except FlowMateError as exc:
            self.load_error = error_text(exc)
        except Exception:
            self.load_error = "Contacts could not be loaded. Try again in a moment."
        self.loading = False
        self.twilio_url = f"{get_settings().base_url.rstrip('/')}/api/inbound/twilio/{self.workspace_id}"

    def _load_detail(self) -> None:
        actor = self.actor()
        if actor is None or not self.selected_id:
            return
        try:
            with session_scope() as session:
                d = service.contact_detail(session, actor, self.selected_id)
        except FlowMateError as exc:
            self.detail_error = error_text(exc)
            return
        self.detail = self._row(d)
        self.history = [{"channel": h["channel"], "status": CONSENT_LABELS.get(h["status"], h["status"]),
                         "raw_status": h["status"], "source": h["source"] or "—", "wording": h["wording"],
                         "actor": h["actor"], "at": fmt_time(h["at"], self.workspace_timezone, seconds=True)}
                        for h in d["history"]]
        self.detail_error = ""

    @rx.var
    def page_label(self) -> str:
        if not self.total:
            return ""
        return f"{self.offset + 1}–{min(self.offset + PAGE_SIZE, self.total)} of {self.total}"

    @rx.var
    def has_next(self) -> bool:
        return self.offset + PAGE_SIZE < self.total

    @rx.var
    def has_prev(self) -> bool:
        return self.offset > 0

    @rx.event
    def load(self) -> None:
        self.clicksend_url = ""
        self._reload()

    @rx.event
    def set_search(self, value: str) -> None:
        self.search = value[:200]
        self.offset = 0
        self._reload()

    @rx.event
    def next_page(self) -> None:
        if self.has_next:
            self.offset += PAGE_SIZE
            self._reload()

    @rx.event
    def prev_page(self) -> None:
        self.offset = max(0, self.offset - PAGE_SIZE)
        self._reload()

    @rx.event
    def select(self, contact_id: str) -> None:
        self.selected_id = contact_id
        self.consent_error = ""
        self._load_detail()

    @rx.event
    def close_detail(self) -> None:
        self.selected_id = ""
        self.detail = {}
        self.history = []

    # -- changes ---------------------------------------------------------------------------

    @rx.event
    def add_contact(self, form: dict) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                c = service.upsert_contact(session, actor, email=str(form.get("email") or "").strip() or None,
                                           phone=str(form.get("phone") or "").strip() or None,
                                           name=str(form.get("name") or ""))
                new_id = c.id
            self.add_error = ""
            self.notice = "Contact saved."
            self._reload()
            self.selected_id = new_id
            self._load_detail()
        except FlowMateError as exc:
            self.add_error = error_text(exc)

    @rx.event
    def set_consent_channel(self, value: str) -> None:
        self.consent_channel = value if value in service.CHANNELS else "email"

    @rx.event
    def set_consent_status(self, value: str) -> None:
        self.consent_status = value if value in service.STATUSES else "granted"

    @rx.event
    def record_consent(self, form: dict) -> None:
        actor = self.actor()
        if actor is None or not self.selected_id:
            return
        try:
            with session_scope() as session:
                service.set_consent(session, actor, self.selected_id, self.consent_channel, self.consent_status,
                                    source=str(form.get("source") or ""), wording=str(form.get("wording") or ""))
            self.consent_error = ""
            self._load_detail()
            self._reload()
        except FlowMateError as exc:
            self.consent_error = error_text(exc)

    @rx.event
    def set_suppress_channel(self, value: str) -> None:
        self.suppress_channel = value if value in service.CHANNELS else "email"

    @rx.event
    def suppress_address(self, form: dict) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                added = service.suppress(session, actor, self.suppress_channel, str(form.get("address") or ""))
            self.suppress_error = ""
            self.notice = "Suppressed: no marketing goes there any more." if added else "Already suppressed."
            self._reload()
            self._load_detail()
        except FlowMateError as exc:
            self.suppress_error = error_text(exc)

    @rx.event
    def suppress_selected(self, channel: str) -> None:
        self._change_selected_suppression(service.suppress, channel)

    @rx.event
    def unsuppress_selected(self, channel: str) -> None:
        self._change_selected_suppression(service.unsuppress, channel)

    def _change_selected_suppression(self, change: Any, channel: str) -> None:
        """Suppress or lift the open contact's email or phone on ``channel``, then refresh."""
        actor = self.actor()
        address = self.detail.get("email" if channel == "email" else "phone", "")
        if actor is None or not address or address == "—":
            return
        try:
            with session_scope() as session:
                change(session, actor, channel, address)
            self._reload()
            self._load_detail()
        except FlowMateError as exc:
            self.consent_error = error_text(exc)

    @rx.event
    async def import_file(self, files: list[rx.UploadFile]) -> None:
        actor = self.actor()
        if actor is None or not files:
            return
        self.importing = True
        data = await files[0].read()
        if len(data) > MAX_UPLOAD_BYTES:
            self.import_summary, self.import_errors = "The file is larger than 5 MB; split it.", []
            self.importing = False
            return
        try:
            with session_scope() as session:
                result = service.import_csv(session, actor, data.decode("utf-8-sig", errors="replace"))
            self.import_summary = (f"Imported: {result['created']} new, {result['updated']} updated, "
                                   f"{result['consents']} consent change(s), {len(result['errors'])} row(s) skipped.")
            self.import_errors = [f"Line {e['line']}: {e['error']}" for e in result["errors"][:20]]
            self.offset = 0
            self._reload()
        except FlowMateError as exc:
            self.import_summary, self.import_errors = error_text(exc), []
        self.importing = False

    @rx.event
    def export(self) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        with session_scope() as session:
            data = service.export_csv(session, actor)
        return rx.download(data=data, filename="contacts.csv")

    @rx.event
    def new_clicksend_secret(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                secret = service.rotate_clicksend_secret(session, actor)
            self.clicksend_url = f"{get_settings().base_url.rstrip('/')}/api/inbound/clicksend/{secret}"
            self.clicksend_set = True
            self.inbound_error = ""
        except FlowMateError as exc:
            self.inbound_error = error_text(exc)
