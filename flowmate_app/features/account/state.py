"""/account: who you are, whether your email is confirmed, your signed-in browsers, your workspaces."""

from __future__ import annotations

from typing import Any

import reflex as rx

from engine.auth_limits import TooManyAttempts, check_flow
from engine.db import session_scope
from engine.errors import FlowMateError, NotFound
from engine.models import User
from engine.services import account_sessions, accounts, my_workspaces, sessions, verification
from flowmate_app.auth import AuthState, error_text
from flowmate_app.formatting import fmt_time


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
