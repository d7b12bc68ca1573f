"""The pages emailed links open: /invite/<token>, /forgot, /reset/<token>, /verify/<token>.

Each link's token is the last path segment; the services decide whether it is still usable and
the pages say in plain words why not.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import select

from engine.auth_limits import TooManyAttempts, check_flow
from engine.db import as_aware, session_scope
from engine.errors import FlowMateError, Forbidden, ValidationFailed
from engine.models import User
from engine.services import invitations, password_reset, sessions, verification
from flowmate_app.auth import AuthState, error_text

SIGNUP_ERRORS = {
    "password": "Use a password of at least 8 characters.",
    "exists": "An account with this email already exists. Log in, then open the invitation link again.",
    "origin": "That request came from another site and was refused. Open the invitation link again.",
    "rate_limited": "Too many attempts with this invitation or from your network. Wait a few minutes, then try "
                    "again.",
    **invitations.InvitationInvalid.MESSAGES,
}


def _last_segment(path: str | None) -> str:
    return (path or "").rstrip("/").rsplit("/", 1)[-1]


class InviteState(AuthState):
    """What the invitation link can do for this browser: sign up, log in first, or join."""

    invite_loading: bool = True
    invite_token: str = ""
    # invalid | signup | login | join | wrong_account | unverified | member
    invite_mode: str = ""
    invite_message: str = ""
    invite_error: str = ""
    invite_workspace: str = ""
    invite_email: str = ""
    invite_role: str = ""
    invite_inviter: str = ""
    invite_expires: str = ""
    joining: bool = False
    verification_sent: bool = False

    @rx.event
    def load_invite(self) -> None:
        self.invite_loading, self.joining, self.verification_sent = True, False, False
        self.invite_token = _last_segment(self.router.url.path)
        self.invite_error = SIGNUP_ERRORS.get(self.router.url.query_parameters.get("error", ""), "")
        signed_in = self._load_identity()
        with session_scope() as session:
            try:
                view = invitations.lookup(session, self.invite_token)
            except invitations.InvitationInvalid as exc:
                self.invite_mode, self.invite_message, self.invite_loading = "invalid", exc.message, False
                self.invite_error = ""
                return
            self.invite_workspace, self.invite_email, self.invite_role = view.workspace_name, view.email, view.role
            self.invite_inviter = view.invited_by
            self.invite_expires = as_aware(view.expires_at).strftime("%-d %b %Y")
            if not signed_in:
                self.invite_mode = "login" if view.account_exists else "signup"
            elif self.user_email != view.email:
                self.invite_mode = "wrong_account"
            elif any(ws["id"] == view.workspace_id for ws in self.workspaces):
                self.invite_mode = "member"
            else:
                user = session.exec(select(User).where(User.email == self.user_email)).one()
                self.invite_mode = "join" if verification.is_verified(user) else "unverified"
        self.invite_loading = False

    @rx.event
    def join(self) -> Any:
        token = self.current_token()
        try:
            check_flow("invite", self.router.session.client_ip or "unknown", self.invite_token[:200],
                       "invitation attempts")
        except TooManyAttempts as exc:
            self.invite_error = str(exc)
            return None
        self.joining = True
        try:
            with session_scope() as session:
                signed = sessions.resolve_session(session, token)
                user = session.get(User, signed.user_id) if signed else None
                if user is None:
                    self.joining = False
                    return rx.redirect(f"/login?next=/invite/{self.invite_token}")
                membership = invitations.accept(session, self.invite_token, user)
                sessions.switch_workspace(session, token, membership.workspace_id)
        except (Forbidden, ValidationFailed) as exc:
            self.joining, self.invite_error = False, error_text(exc)
            return None
        self._load_identity()
        return [rx.toast.success(f"You joined {self.invite_workspace}"), rx.redirect("/")]

    @rx.event
    def resend_verification(self) -> Any:
        return _resend_verification(self)


def _resend_verification(state: AuthState) -> Any:
    token = state.current_token()
    with session_scope() as session:
        signed = sessions.resolve_session(session, token)
        user = session.get(User, signed.user_id) if signed else None
        if user is None:
            return rx.redirect("/login")
        try:
            check_flow("verify", state.router.session.client_ip or "unknown", user.email, "confirmation mails")
        except TooManyAttempts as exc:
            return rx.toast.error(str(exc))
        verification.send_verification(session, user)
    state.verification_sent = True  # type: ignore[attr-defined]
    return rx.toast.success(f"We sent a new confirmation link to {user.email}")


class ForgotState(AuthState):
    """/forgot posts its form straight to POST /auth/forgot (rate limited per client and address,
    answered 429 with Retry-After); this state only shows the answer."""

    forgot_sent: bool = False
    forgot_busy: bool = False
    forgot_message: str = ""
    forgot_error: str = ""

    @rx.event
    def open_forgot(self) -> None:
        self.forgot_sent, self.forgot_busy, self.forgot_message, self.forgot_error = False, False, "", ""
        self.auth_api = self._backend_origin()

    @rx.event
    def forgot_started(self) -> None:
        self.forgot_busy, self.forgot_error = True, ""

    @rx.event
    def forgot_finished(self, result: Any) -> None:
        self.forgot_busy = False
        if isinstance(result, dict) and result.get("ok"):
            self.forgot_message, self.forgot_sent = str(result.get("message") or password_reset.ANSWER), True
            return
        message = result.get("message") if isinstance(result, dict) else None
        self.forgot_error = str(message or "Something went wrong. Try again.")[:300]


class ResetState(rx.State):
    reset_token: str = ""
    reset_email: str = ""
    reset_invalid: str = ""
    reset_error: str = ""
    reset_loading: bool = True

    @rx.event
    def open_reset(self) -> None:
        self.reset_token = _last_segment(self.router.url.path)
        self.reset_error = ""
        try:
            with session_scope() as session:
                self.reset_email, self.reset_invalid = password_reset.check_token(session, self.reset_token), ""
        except ValidationFailed as exc:
            self.reset_email, self.reset_invalid = "", f"{exc.message}: {next(iter(exc.fields.values()))}"
        self.reset_loading = False

    @rx.event
    def set_new_password(self, form: dict[str, Any]) -> Any:
        password = str(form.get("password") or "")
        confirm = str(form.get("confirm") or "")
        if len(password) < 8:
            self.reset_error = "Use a password of at least 8 characters."
            return None
        if password != confirm:
            self.reset_error = "The two passwords differ."
            return None
        try:
            with session_scope() as session:
                password_reset.reset_password(session, self.reset_token, password)
        except FlowMateError as exc:
            self.reset_error = error_text(exc)
            return None
        return rx.redirect("/login?reset=done")


class VerifyState(rx.State):
    verify_loading: bool = True
    verify_ok: bool = False
    verify_message: str = ""

    @rx.event
    def open_verify(self) -> None:
        token = _last_segment(self.router.url.path)
        try:
            with session_scope() as session:
                user = verification.verify_email(session, token)
            self.verify_ok, self.verify_message = True, f"Thanks: {user.email} is confirmed."
        except ValidationFailed as exc:
            self.verify_ok = False
            self.verify_message = f"{exc.message}: {next(iter(exc.fields.values()))}."
        self.verify_loading = False


class LoginNoticeState(rx.State):
    """What /login and /signup read from their query: ``?reset=done``, ``?sso_error=``, ``?next=``."""

    @rx.var
    def login_notice(self) -> str:
        query = self.router.url.query_parameters
        if query.get("reset") == "done":
            return "Your password was changed and every other session was signed out. Log in with the new one."
        if query.get("deleted") == "account":
            return "Your account was deleted. Thank you for using FlowMate."
        return ""

    @rx.var
    def sso_error(self) -> str:
        from engine.services.oidc import OidcRefused

        code = self.router.url.query_parameters.get("sso_error", "")
        return OidcRefused.MESSAGES.get(code, OidcRefused.MESSAGES["token"]) if code else ""

    @rx.var
    def next_param(self) -> str:
        from urllib.parse import quote

        from flowmate_app.auth import safe_next

        return quote(safe_next(self.router.url.query_parameters.get("next")), safe="")


class DeleteAccountState(rx.State):
    """/account/delete/<token>: the emailed confirmation for deleting an account without a password."""

    delete_loading: bool = True
    delete_token: str = ""
    delete_email: str = ""
    delete_invalid: str = ""
    delete_blockers: list[str] = []
    delete_error: str = ""
    deleting: bool = False

    @rx.event
    def open_delete(self) -> None:
        from engine.services import deletion

        self.delete_token, self.delete_error, self.deleting = _last_segment(self.router.url.path), "", False
        try:
            with session_scope() as session:
                user = deletion.delete_link_user(session, self.delete_token)
                self.delete_email, self.delete_invalid = user.email, ""
                self.delete_blockers = [b["message"] for b in deletion.account_blockers(session, user.id)]
        except ValidationFailed as exc:
            self.delete_email, self.delete_invalid = "", f"{exc.message}: {next(iter(exc.fields.values()))}."
        self.delete_loading = False

    @rx.event
    def confirm_delete(self) -> Any:
        from engine.services import deletion

        self.deleting = True
        try:
            with session_scope() as session:
                deletion.delete_account_by_link(session, self.delete_token)
        except FlowMateError as exc:
            self.deleting, self.delete_error = False, error_text(exc)
            return None
        return rx.redirect("/login?deleted=account")
