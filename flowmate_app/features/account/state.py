"""/account: who you are, whether your email is confirmed, your signed-in browsers, your workspaces."""

from __future__ import annotations

from typing import Any

import reflex as rx

from engine.auth_limits import TooManyAttempts, check_flow
from engine.db import session_scope
from engine.errors import FlowMateError, NotFound
from engine.models import User
from engine.services import account_sessions, accounts, deletion, mfa, my_workspaces, sessions, verification
from flowmate_app.auth import AuthState, error_text
from flowmate_app.formatting import fmt_time


def _mfa_error_text(exc: FlowMateError) -> str:
    """A wrong code reads as its own sentence ("That code is not right..."), not as a field error."""
    return exc.message if isinstance(exc, mfa.MfaCodeInvalid) else error_text(exc)


class AccountState(AuthState):
    account_loading: bool = True
    account_error: str = ""
    email_verified: bool = True
    verification_sent: bool = False
    browser_sessions: list[dict[str, str]] = []
    # Workspaces: create and leave
    new_workspace_error: str = ""
    creating_workspace: bool = False
    leave_open: bool = False
    leave_id: str = ""
    leave_name: str = ""
    # Two-factor authentication (engine.services.mfa)
    mfa_enabled: bool = False
    mfa_codes_left: int = 0
    mfa_required_by: str = ""
    mfa_setup_secret: str = ""  # shown while set-up waits for its first code
    mfa_setup_qr: str = ""
    mfa_new_codes: list[str] = []  # recovery codes, shown once
    mfa_error: str = ""
    mfa_busy: bool = False
    # Deleting an account that has no password (single sign-on only): an emailed link confirms.
    has_password: bool = True
    delete_link_sent_to: str = ""

    def _user(self, session: Any) -> User | None:
        signed = sessions.resolve_session(session, self.current_token())
        return session.get(User, signed.user_id) if signed else None

    @rx.event
    def load_account(self) -> None:
        try:
            with session_scope() as session:
                user = self._user(session)
                if user is None:
                    return
                self.email_verified = verification.is_verified(user)
                self.has_password = bool(user.password_hash)
                status = mfa.status(session, user.id)
                self.mfa_enabled = bool(status["enabled"])
                self.mfa_codes_left = int(status["recovery_codes_left"])  # type: ignore[call-overload]
                self.mfa_required_by = ", ".join(status["required_by"])  # type: ignore[arg-type]
                items = account_sessions.list_sessions(session, user.id, self.current_token())
        except FlowMateError as exc:
            self.account_error, self.account_loading = error_text(exc), False
            return
        tz = self.workspace_timezone
        self.browser_sessions = [
            {"id": i["id"], "device": i["device"], "ip": i["ip"], "current": "true" if i["current"] else "",
             "last_seen": fmt_time(i["last_seen_at"], tz), "since": fmt_time(i["created_at"], tz),
             "user_agent": i["user_agent"]}
            for i in items
        ]
        self.account_error, self.account_loading = "", False

    @rx.event
    def resend_verification(self) -> Any:
        with session_scope() as session:
            user = self._user(session)
            if user is None:
                return rx.redirect("/login")
            try:
                check_flow("verify", self.router.session.client_ip or "unknown", user.email, "confirmation mails")
            except TooManyAttempts as exc:
                return rx.toast.error(str(exc))
            verification.send_verification(session, user, self.workspace_name)
            address = user.email
        self.verification_sent = True
        return rx.toast.success(f"We sent a new confirmation link to {address}")

    @rx.event
    def revoke_session(self, session_id: str) -> Any:
        try:
            with session_scope() as session:
                user = self._user(session)
                if user is None:
                    return rx.redirect("/login")
                current = next((s for s in self.browser_sessions if s["id"] == session_id and s["current"]), None)
                account_sessions.revoke_session(session, user.id, session_id)
        except NotFound:
            self.load_account()
            return rx.toast.error("That session has already ended.")
        if current:
            return AuthState.log_out
        self.load_account()
        return rx.toast.success("Session ended: that browser is signed out")

    @rx.event
    def revoke_others(self) -> Any:
        with session_scope() as session:
            user = self._user(session)
            if user is None:
                return rx.redirect("/login")
            ended = account_sessions.revoke_other_sessions(session, user.id, self.current_token())
        self.load_account()
        return rx.toast.success(f"Signed out {ended} other session{'s' if ended != 1 else ''}")

    # ------------------------------------------------------------------ workspaces

    @rx.event
    def create_workspace(self, form: dict[str, Any]) -> Any:
        name = str(form.get("name") or "").strip()
        if not name:
            self.new_workspace_error = "Give the workspace a name."
            return None
        self.creating_workspace = True
        try:
            with session_scope() as session:
                user = self._user(session)
                if user is None:
                    return rx.redirect("/login")
                ws = my_workspaces.create_own_workspace(session, user, name)
                sessions.switch_workspace(session, self.current_token(), ws.id)
                ws_name = ws.name
        except FlowMateError as exc:
            self.creating_workspace, self.new_workspace_error = False, error_text(exc)
            return None
        self.creating_workspace, self.new_workspace_error = False, ""
        self._load_identity()
        return [rx.toast.success(f"Created {ws_name}: you are its owner"), rx.redirect("/")]

    @rx.event
    def ask_leave(self, workspace_id: str, name: str) -> None:
        self.leave_id, self.leave_name, self.leave_open = workspace_id, name, True

    @rx.event
    def set_leave_open(self, value: bool) -> None:
        self.leave_open = value

    @rx.event
    def leave_confirmed(self) -> Any:
        self.leave_open = False
        token = self.current_token()
        try:
            with session_scope() as session:
                user = self._user(session)
                if user is None:
                    return rx.redirect("/login")
                actor = accounts.actor_for_user(session, user, self.leave_id)
                my_workspaces.leave_workspace(session, actor)
                if self.workspace_id == self.leave_id:
                    remaining = accounts.memberships_of(session, user.id)
                    sessions.switch_workspace(session, token, remaining[0][0].id)
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        self._load_identity()
        self.load_account()
        return rx.toast.success(f"You left {self.leave_name}")

    # ------------------------------------------------------------------ two-factor authentication

    @rx.event
    def start_mfa(self) -> Any:
        with session_scope() as session:
            user = self._user(session)
            if user is None:
                return rx.redirect("/login")
            try:
                setup = mfa.begin_setup(session, user)
            except FlowMateError as exc:
                self.mfa_error = error_text(exc)
                return None
        self.mfa_setup_secret = " ".join(setup.secret[i:i + 4] for i in range(0, len(setup.secret), 4))
        self.mfa_setup_qr, self.mfa_error, self.mfa_new_codes = setup.qr_data_uri, "", []
        return None

    @rx.event
    def confirm_mfa(self, form: dict[str, Any]) -> Any:
        self.mfa_busy = True
        try:
            with session_scope() as session:
                user = self._user(session)
                if user is None:
                    return rx.redirect("/login")
                codes = mfa.confirm_setup(session, user, str(form.get("code") or ""))
        except FlowMateError as exc:
            self.mfa_busy, self.mfa_error = False, _mfa_error_text(exc)
            return None
        self.mfa_busy, self.mfa_error, self.mfa_setup_secret, self.mfa_setup_qr = False, "", "", ""
        self.mfa_new_codes = codes
        self.load_account()
        return rx.toast.success("Two-factor authentication is on")

    @rx.event
    def cancel_mfa(self) -> Any:
        with session_scope() as session:
            user = self._user(session)
            if user is None:
                return rx.redirect("/login")
            mfa.cancel_setup(session, user)
        self.mfa_setup_secret = self.mfa_setup_qr = self.mfa_error = ""
        return None

    @rx.event
    def disable_mfa(self, form: dict[str, Any]) -> Any:
        self.mfa_busy = True
        try:
            with session_scope() as session:
                user = self._user(session)
                if user is None:
                    return rx.redirect("/login")
                mfa.disable(session, user, code=str(form.get("code") or ""),
                            password=str(form.get("password") or ""))
        except FlowMateError as exc:
            self.mfa_busy = False
            self.mfa_error = _mfa_error_text(exc)
            return None
        self.mfa_busy, self.mfa_error, self.mfa_new_codes = False, "", []
        self.load_account()
        return rx.toast.success("Two-factor authentication is off")

    @rx.event
    def regenerate_codes(self, form: dict[str, Any]) -> Any:
        try:
            with session_scope() as session:
                user = self._user(session)
                if user is None:
                    return rx.redirect("/login")
                self.mfa_new_codes = mfa.regenerate_recovery_codes(session, user, str(form.get("code") or ""))
        except FlowMateError as exc:
            self.mfa_error = _mfa_error_text(exc)
            return None
        self.mfa_error = ""
        self.load_account()
        return rx.toast.success("New recovery codes: the old ones no longer work")

    @rx.event
    def dismiss_codes(self) -> None:
        self.mfa_new_codes = []

    # ------------------------------------------------------------------ deleting a password-less account

    @rx.event
    def send_delete_link(self) -> Any:
        try:
            with session_scope() as session:
                user = self._user(session)
                if user is None:
                    return rx.redirect("/login")
                check_flow("delete", self.router.session.client_ip or "unknown", user.email, "confirmation mails")
                self.delete_link_sent_to = deletion.send_delete_link(session, user.id)
        except TooManyAttempts as exc:
            return rx.toast.error(str(exc))
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        return rx.toast.success(f"We sent a confirmation link to {self.delete_link_sent_to}")
