"""State of the Data page: one flat state calling the governance services (never SQL)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from engine.db import session_scope
from engine.errors import FlowMateError, ValidationFailed
from engine.models import User
from engine.services import deletion, erasure, exports, residency, retention
from engine.services.workspaces import get_workspace
from flowmate_app.auth import AuthState, error_text
from flowmate_app.formatting import fmt_time

STATUS_TEXT = {"queued": "Waiting to start", "running": "Building", "succeeded": "Ready", "failed": "Failed",
               "expired": "Link expired"}


def _size(value: int | None) -> str:
    if not value:
        return ""
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


class DataState(AuthState):
    data_loading: bool = True
    data_error: str = ""
    ws_name: str = ""
    ws_region: str = ""
    ws_region_name: str = ""
    deployment_region: str = ""

    exports_list: list[dict[str, str]] = []
    exporting: bool = False

    retention_info: dict[str, str] = {}
    audit_days_error: str = ""

    flows: list[dict[str, str]] = []

    subject: str = ""
    subject_error: str = ""
    subject_count: dict[str, str] = {}
    erase_confirm_open: bool = False
    erasing: bool = False

    delete_ws_name: str = ""
    delete_ws_error: str = ""
    delete_ws_open: bool = False
    deleting_ws: bool = False
    blockers: list[dict[str, str]] = []
    account_error: str = ""
    deleting_account: bool = False
    # An account without a password (single sign-on only) confirms deletion by an emailed link on
    # the Account page, so this page shows it the way there instead of a password field.
    account_has_password: bool = True

    @rx.var
    def has_active_export(self) -> bool:
        return any(e["status"] in ("queued", "running") for e in self.exports_list)

    @rx.var
    def ws_name_matches(self) -> bool:
        return bool(self.ws_name) and self.delete_ws_name.strip() == self.ws_name

    @rx.var
    def is_owner(self) -> bool:
        return self.role == "owner"

    @rx.event
    def load(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                ws = get_workspace(session, actor)
                self.ws_name, self.ws_region = ws.name, ws.data_region
                self.ws_region_name = residency.LOCATIONS.get(ws.data_region, ws.data_region)
                self.deployment_region = residency.deployment_region()
                self._load_exports(session, actor)
                self._load_retention(session, actor)
                self.flows = [{k: str(v) for k, v in f.items()} for f in residency.cross_border_flows(session, actor)]
                self.blockers = deletion.account_blockers(session, actor.user_id) if actor.user_id else []
                user = session.get(User, actor.user_id) if actor.user_id else None
                self.account_has_password = bool(user is None or user.password_hash)
        except FlowMateError as exc:
            self.data_error, self.data_loading = error_text(exc), False
            return
        self.data_error, self.data_loading = "", False

    def _load_exports(self, session: Any, actor: Any) -> None:
        self.exports_list = [
            {"id": e["id"], "scope": "Workspace" if e["scope"] == "workspace" else "My data",
             "status": e["status"], "status_text": STATUS_TEXT.get(e["status"], e["status"]),
             "percent": str(e["progress"]["percent"]),
             "progress": f"{e['progress']['done']:,} of {e['progress']['total']:,} rows",
             "created": fmt_time(e["created_at"], self.workspace_timezone),
             "expires": fmt_time(e["expires_at"], self.workspace_timezone) if e["expires_at"] else "",
             "size": _size(e["size_bytes"]), "url": e["download_url"] or "", "error": e["error"] or "",
             "region": e["storage_region"] or ""}
            for e in exports.list_exports(session, actor, limit=10)
        ]

    def _load_retention(self, session: Any, actor: Any) -> None:
        info = retention.preview(session, actor)
        tz = self.workspace_timezone
        self.retention_info = {
            "retention_days": str(info["retention_days"]), "audit_days": str(info["audit_retention_days"]),
            "runs": f"{info['runs_to_prune']:,}", "audit_rows": f"{info['audit_rows_to_prune']:,}",
            "run_cutoff": fmt_time(info["run_cutoff"], tz), "audit_cutoff": fmt_time(info["audit_cutoff"], tz),
            "last_run": fmt_time(info["last_run_at"], tz) if info["last_run_at"] else "",
            "next_run": fmt_time(info["next_run_at"], tz) if info["next_run_at"] else "within the hour",
            "last_pruned": (f"{(info['last_run'] or {}).get('runs', 0):,} runs and "
                            f"{(info['last_run'] or {}).get('audit_rows', 0):,} audit rows"
                            if info["last_run"] else ""),
        }

    # ---------------------------------------------------------------- exports

    @rx.event
    def refresh_exports(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        with session_scope() as session:
            self._load_exports(session, actor)

    @rx.event
    def start_export(self, scope: str) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        self.exporting = True
        try:
            with session_scope() as session:
                exports.create_export(session, actor, scope)
                self._load_exports(session, actor)
        except FlowMateError as exc:
            self.exporting = False
            return rx.toast.error(error_text(exc))
        self.exporting = False
        return rx.toast.success("Export started: it appears below when it is ready")

    # ---------------------------------------------------------------- retention

    @rx.event
    def save_audit_days(self, form: dict[str, Any]) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        try:
            with session_scope() as session:
                retention.set_audit_retention(session, actor, form.get("audit_days"))
        except ValidationFailed as exc:
            self.audit_days_error = next(iter(exc.fields.values()), exc.message)
            return None
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        self.audit_days_error = ""
        with session_scope() as session:
            self._load_retention(session, actor)
        return rx.toast.success("Audit retention saved")

    # ---------------------------------------------------------------- erasure

    @rx.event
    def set_subject(self, value: str) -> None:
        self.subject, self.subject_count, self.subject_error = value, {}, ""

    @rx.event
    def find_subject(self, form: dict[str, Any]) -> None:
        actor = self.actor()
        if actor is None:
            return
        self.subject = str(form.get("subject") or self.subject).strip()
        try:
            found = erasure.find_subject(actor, self.subject)
        except ValidationFailed as exc:
            self.subject_error, self.subject_count = next(iter(exc.fields.values()), exc.message), {}
            return
        except FlowMateError as exc:
            self.subject_error, self.subject_count = error_text(exc), {}
            return
        self.subject_error = ""
        self.subject_count = {"runs": str(found["runs"]), "values": str(found["values"]), "kind": found["kind"]}

    @rx.event
    def set_erase_confirm_open(self, value: bool) -> None:
        self.erase_confirm_open = value

    @rx.event
    def erase_confirmed(self) -> Any:
        actor = self.actor()
        self.erase_confirm_open = False
        if actor is None:
            return None
        try:
            done = erasure.erase_subject(actor, self.subject)
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        self.subject, self.subject_count = "", {}
        return [rx.set_value("subject", ""),
                rx.toast.success(f"Erased {done['values']} value{'s' if done['values'] != 1 else ''} in "
                                 f"{done['runs']} run{'s' if done['runs'] != 1 else ''}")]

    # ---------------------------------------------------------------- deletion

    @rx.event
    def set_delete_ws_name(self, value: str) -> None:
        self.delete_ws_name, self.delete_ws_error = value, ""

    @rx.event
    def set_delete_ws_open(self, value: bool) -> None:
        self.delete_ws_open = value

    @rx.event
    def delete_workspace_confirmed(self) -> Any:
        actor = self.actor()
        self.delete_ws_open = False
        if actor is None:
            return None
        self.deleting_ws = True
        try:
            deletion.delete_workspace(actor, self.delete_ws_name)
        except ValidationFailed as exc:
            self.deleting_ws = False
            self.delete_ws_error = next(iter(exc.fields.values()), exc.message)
            return None
        except FlowMateError as exc:
            self.deleting_ws = False
            return rx.toast.error(error_text(exc))
        self.deleting_ws, self.delete_ws_name = False, ""
        if not self._load_identity():
            return rx.redirect("/login")
        return [rx.toast.success("Workspace deleted"), rx.redirect("/" if self.workspace_id else "/login")]

    @rx.event
    def delete_account(self, form: dict[str, Any]) -> Any:
        actor = self.actor()
        if actor is None or actor.user_id is None:
            return None
        self.deleting_account = True
        try:
            with session_scope() as session:
                deletion.delete_account(session, actor.user_id, str(form.get("password") or ""))
        except ValidationFailed as exc:
            self.deleting_account = False
            self.account_error = next(iter(exc.fields.values()), exc.message)
            return None
        except FlowMateError as exc:
            self.deleting_account, self.account_error = False, error_text(exc)
            return None
        self.deleting_account, self.account_error = False, ""
        from engine.services.sessions import COOKIE_NAME

        self.session_token = ""
        self._clear_identity()
        return [rx.remove_cookie(COOKIE_NAME, {"path": "/"}), rx.redirect("/login")]
