"""Workflows list: search, enable/disable, last run, create, duplicate, delete, import, export.

Rows are formatted to plain strings here, so the page only lays them out. The builder (another
feature) owns /workflows/<id>; "New workflow" creates a blank manual workflow through the
services and opens it there.
"""

from __future__ import annotations

import json
import re
from typing import Any

import reflex as rx
from sqlmodel import Session

from engine.db import session_scope
from engine.errors import FlowMateError, ValidationFailed
from engine.services import dashboard, workflows
from engine.services.actor import Actor
from flowmate_app.auth import AuthState, error_text
from flowmate_app.formatting import fmt_ago
from flowmate_app.state_helpers import ConfirmDeleteMixin

PAGE_SIZE = 25
MAX_IMPORT_BYTES = 1_000_000
TRIGGER_LABELS = {"webhook": "Webhook", "cron": "Schedule", "manual": "Manual"}
TRIGGER_ICONS = {"webhook": "webhook", "cron": "calendar_clock", "manual": "mouse_pointer_click"}


def _filename(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "workflow"
    return f"{slug}.flowmate.json"


class WorkflowsState(ConfirmDeleteMixin, AuthState):
    loading: bool = True
    load_error: str = ""
    search: str = ""
    rows: list[dict[str, str]] = []
    next_cursor: str = ""
    loading_more: bool = False

    # Import dialog.
    import_open: bool = False
    import_text: str = ""
    import_error: str = ""
    import_fields: list[str] = []

    def _row(self, wf: dict[str, Any], last: dict[str, Any] | None) -> dict[str, str]:
        trigger = (wf.get("trigger") or {}).get("type", "manual")
        steps = len(wf.get("steps") or [])
        return {
            "id": wf["id"],
            "name": wf["name"],
            "description": wf.get("description") or "",
            "enabled": "true" if wf["enabled"] else "",
            "trigger": TRIGGER_LABELS.get(trigger, trigger),
            "trigger_icon": TRIGGER_ICONS.get(trigger, "zap"),
            "steps": f"{steps} step" + ("" if steps == 1 else "s"),
            "version": f"v{wf['version']}",
            "last_status": (last or {}).get("status", ""),
            "last_run_id": (last or {}).get("id", ""),
            "last_ago": fmt_ago((last or {}).get("created_at")) if last else "never run",
            "updated": fmt_ago(wf["updated_at"]),
        }

    def _fetch(self, cursor: str | None = None) -> tuple[list[dict[str, str]], str]:
        actor = self.actor()
        if actor is None:
            return [], ""
        with session_scope() as session:
            page = workflows.list_workflows(session, actor, search=self.search or None, cursor=cursor,
                                            limit=PAGE_SIZE)
            last = dashboard.last_run_by_workflow(session, actor, [w["id"] for w in page["items"]])
        return [self._row(w, last.get(w["id"])) for w in page["items"]], page["next_cursor"] or ""

    @rx.event
    def load(self) -> None:
        try:
            self.rows, self.next_cursor = self._fetch()
            self.load_error = ""
        except FlowMateError as exc:
            self.load_error = error_text(exc)
        except Exception:
            self.load_error = "The workflows could not be loaded. Try again in a moment."
        self.loading = False

    @rx.event
    def poll(self, _tick: str = "") -> None:
        """Refresh last-run columns while the list is open (only the first page, cheap)."""
        if self.user_email and not self.next_cursor and not self.confirm_open and not self.import_open:
            self.load()

    @rx.event
    def load_more(self) -> None:
        if not self.next_cursor:
            return
        self.loading_more = True
        try:
            more, self.next_cursor = self._fetch(self.next_cursor)
            self.rows = self.rows + more
        except FlowMateError as exc:
            self.load_error = error_text(exc)
        self.loading_more = False

    @rx.event
    def set_search(self, value: str) -> None:
        self.search = value[:200]
        self.loading = True
        self.load()

    # ------------------------------------------------------------------ mutations

    @rx.event
    def create_blank(self) -> Any:
        actor = self.actor()
        if actor is None:
            return rx.redirect("/login")
        try:
            with session_scope() as session:
                wf = workflows.create_workflow(session, actor, {
                    "name": "Untitled workflow", "trigger": {"type": "manual", "config": {}}, "steps": []})
                new_id = wf.id
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        return rx.redirect(f"/workflows/{new_id}")

    @rx.event
    def toggle(self, workflow_id: str, enabled: bool) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        try:
            with session_scope() as session:
                workflows.set_enabled(session, actor, workflow_id, bool(enabled))
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        self.rows = [{**r, "enabled": "true" if enabled else ""} if r["id"] == workflow_id else r for r in self.rows]
        return rx.toast.success("Workflow turned " + ("on" if enabled else "off"))

    @rx.event
    def duplicate(self, workflow_id: str) -> Any:
        """Copy a workflow (switched off, so a schedule or webhook never fires twice by surprise)."""
        actor = self.actor()
        if actor is None:
            return None
        note = ""
        try:
            with session_scope() as session:
                definition = workflows.export_definition(session, actor, workflow_id)
                definition["name"] = f"Copy of {definition['name']}"[:200]
                definition["enabled"] = False
                auth = (definition.get("trigger", {}).get("config") or {}).get("auth") or {}
                if auth.get("type", "none") != "none":
                    # Secrets are never exported; the copy starts without webhook authentication.
                    definition["trigger"]["config"]["auth"] = {"type": "none"}
                    note = " Set its webhook authentication before turning it on."
                workflows.create_workflow(session, actor, definition)
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        self.load()
        return rx.toast.success("Workflow duplicated (switched off)." + note)

    def _delete(self, session: Session, actor: Actor, item_id: str) -> None:
        workflows.delete_workflow(session, actor, item_id)

    def _deleted(self) -> Any:
        self.rows = [r for r in self.rows if r["id"] != self.confirm_id]
        name, self.confirm_id = self.confirm_name, ""
        return rx.toast.success(f"Deleted “{name}”")

    @rx.event
    def export(self, workflow_id: str) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        try:
            with session_scope() as session:
                definition = workflows.export_definition(session, actor, workflow_id)
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        return rx.download(data=json.dumps(definition, indent=2, ensure_ascii=False),
                           filename=_filename(definition["name"]), mime_type="application/json")

    # ------------------------------------------------------------------ import

    @rx.event
    def set_import_open(self, value: bool) -> None:
        self.import_open = value
        if value:
            self.import_text, self.import_error, self.import_fields = "", "", []

    @rx.event
    def set_import_text(self, value: str) -> None:
        self.import_text = value

    @rx.event
    async def handle_upload(self, files: list[rx.UploadFile]) -> None:
        for file in files[:1]:
            data = await file.read()
            if len(data) > MAX_IMPORT_BYTES:
                self.import_error = "That file is larger than 1 MB; a workflow definition is much smaller."
                return
            try:
                self.import_text = data.decode("utf-8")
                self.import_error, self.import_fields = "", []
            except UnicodeDecodeError:
                self.import_error = "That file is not UTF-8 text. Choose a .json file exported from FlowMate."

    @rx.event
    def import_json(self) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        self.import_fields = []
        text = self.import_text.strip()
        if not text:
            self.import_error = "Paste a workflow definition or choose a file first."
            return None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            self.import_error = f"This is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
            return None
        try:
            with session_scope() as session:
                name = workflows.create_workflow(session, actor, raw).name
        except ValidationFailed as exc:
            self.import_error = exc.message
            self.import_fields = [f"{k}: {v}" for k, v in list(exc.fields.items())[:8]]
            return None
        except FlowMateError as exc:
            self.import_error = error_text(exc)
            return None
        self.import_open = False
        self.load()
        return rx.toast.success(f"Imported “{name}”")
