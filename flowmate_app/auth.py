"""Who is signed in: the session cookie, the current workspace and role, sign up / log in / out.

Every feature state subclasses :class:`AuthState` so its handlers can call ``self.actor()`` and
pass the result to engine/services, which enforce roles and workspace scoping. The UI reads
``can_edit`` / ``is_admin`` only to hide or disable controls; the services are the real gate.

Protected pages use ``on_load=[AuthState.require_login, ...]``: without a valid session the
browser goes to ``/login?next=<where it was>``.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import reflex as rx

from engine.db import session_scope
from engine.errors import Conflict, FlowMateError, Forbidden, NotFound, ValidationFailed
from engine.models import Role
from engine.services import accounts, sessions, sso_policy, verification
from engine.services.actor import Actor

SESSION_MAX_AGE_S = int(sessions.SESSION_LIFETIME.total_seconds())

F = TypeVar("F")


def plain_method(fn: F) -> F:
    """Keep a public state method a normal Python method instead of an event handler.

    Reflex turns every public method of a state into an event handler the browser could call;
    helpers such as ``actor()`` must only ever be called by the backend itself.
    """
    fn.__override_base_method__ = True  # type: ignore[attr-defined]
    return fn


def safe_next(target: str | None) -> str:
    """Only same-site paths are allowed as a post-login destination (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/signup"):
        return "/"
    return target


def error_text(exc: Exception) -> str:
    """A one-line message for a service error, with the first field detail when there is one."""
    if isinstance(exc, ValidationFailed) and exc.fields:
        field, message = next(iter(exc.fields.items()))
        return f"{exc.message}: {field} {message}".rstrip()
    return str(exc) or exc.__class__.__name__


class AuthState(rx.State):
    """The signed-in identity, shared by every page."""

    session_token: str = rx.Cookie(
        "", name=sessions.COOKIE_NAME, path="/", max_age=SESSION_MAX_AGE_S, same_site="lax"
    )
    user_email: str = ""
    user_name: str = ""
    workspace_id: str = ""
    workspace_name: str = ""
    workspace_timezone: str = "UTC"
    role: str = ""
    workspaces: list[dict[str, str]] = []

    # Log in / sign up forms.
    auth_error: str = ""
    auth_busy: bool = False

    # ----------------------------------------------------------------- backend helpers

    @plain_method
    def actor(self) -> Actor | None:
        """The services Actor for this browser session (None when signed out or revoked)."""
        token = self.current_token()
        if not token:
            return None
        with session_scope() as session:
            return sessions.session_actor(session, token)

    @plain_method
    def current_token(self) -> str:
        """The session token: the script-visible cookie, or the HttpOnly one an HTTP route set
        (OIDC callback, invitation sign-up), which arrives in the websocket's request headers."""
        if self.session_token:
            return self.session_token
        from http.cookies import SimpleCookie

        jar = SimpleCookie()
        try:
            jar.load(self.router.headers.cookie or "")
        except Exception:
            return ""
        morsel = jar.get(sessions.COOKIE_NAME)
        return morsel.value if morsel else ""

    def _load_identity(self) -> bool:
        """Read user, workspace, role and workspace list for the cookie; False when signed out."""
        token = self.current_token()
        if not token:
            self._clear_identity()
            return False
        with session_scope() as session:
            signed = sessions.resolve_session(session, token)
            actor = sessions.session_actor(session, token) if signed else None
            if signed is None or actor is None:
                self._clear_identity()
                return False
            memberships = accounts.memberships_of(session, signed.user_id)
            self.user_email = signed.email
            self.user_name = signed.name
            self.workspace_id = actor.workspace_id
            self.role = Role(actor.role).value
            self.workspaces = [{"id": ws.id, "name": ws.name, "role": role} for ws, role in memberships]
            for ws, _role in memberships:
                if ws.id == actor.workspace_id:
                    self.workspace_name = ws.name
                    self.workspace_timezone = ws.timezone
        return True

    def _clear_identity(self) -> None:
        self.user_email = self.user_name = self.workspace_id = self.workspace_name = self.role = ""
        self.workspace_timezone = "UTC"
        self.workspaces = []

    def _current_path(self) -> str:
        url = self.router.url
        path = url.path or "/"
        return f"{path}?{url.query}" if url.query else path

    # ----------------------------------------------------------------- computed vars

    @rx.var
    def signed_in(self) -> bool:
        return bool(self.user_email)

    @rx.var
    def can_edit(self) -> bool:
        """Editors, admins and owners change things; viewers only look."""
        return self.role in (Role.editor.value, Role.admin.value, Role.owner.value)

    @rx.var
    def is_admin(self) -> bool:
        """Admins and owners manage members and workspace settings."""
        return self.role in (Role.admin.value, Role.owner.value)

    @rx.var
    def display_name(self) -> str:
        return self.user_name or self.user_email

    @rx.var
    def initials(self) -> str:
        source = (self.user_name or self.user_email or "?").strip()
        parts = [p for p in source.replace("@", " ").replace(".", " ").split() if p]
        return "".join(p[0] for p in parts[:2]).upper() or "?"

    # ----------------------------------------------------------------- events

    @rx.event
    def require_login(self) -> Any:
        """on_load of every protected page: refresh the identity or go to the login page."""
        if self._load_identity():
            from flowmate_app.features.account.state import record_device

            record_device(self)  # the account page's "last seen, device, IP"
            return None
        return rx.redirect(f"/login?next={quote(self._current_path(), safe='')}")

    @rx.event
    def redirect_if_signed_in(self) -> Any:
        """on_load of /login and /signup: a signed-in person goes straight to the app."""
        self.auth_error = ""
        self.auth_busy = False
        if self._load_identity():
            return rx.redirect(safe_next(self.router.url.query_parameters.get("next")))
        return None

    @rx.event
    def log_in(self, form: dict[str, Any]) -> Any:
        email = str(form.get("email") or "").strip()
        password = str(form.get("password") or "")
        if not email or not password:
            self.auth_error = "Enter your email and password."
            return None
        try:
            with session_scope() as session:
                token = sessions.log_in(session, email, password)
                sso_policy.refuse_password_login(session, email)  # a workspace requires SSO: no session
        except sso_policy.SsoRequired as exc:
            self.auth_error = str(exc)
            return None
        except Forbidden as exc:
            message = str(exc)
            if "too many" in message:
                self.auth_error = "Too many failed attempts. This account is locked for a few minutes."
            else:
                self.auth_error = "Invalid email or password."
            return None
        except FlowMateError as exc:
            self.auth_error = error_text(exc)
            return None
        self.session_token = token
        self.auth_error = ""
        self._load_identity()
        return rx.redirect(safe_next(self.router.url.query_parameters.get("next")))

    @rx.event
    def sign_up(self, form: dict[str, Any]) -> Any:
        """Create a user with their own workspace (as its owner) and sign them in."""
        email = str(form.get("email") or "").strip()
        password = str(form.get("password") or "")
        name = str(form.get("name") or "").strip()
        workspace = str(form.get("workspace") or "").strip()
        if not email or not password:
            self.auth_error = "Enter an email and a password."
            return None
        if len(password) < 8:
            self.auth_error = "Use a password of at least 8 characters."
            return None
        if not workspace:
            workspace = f"{name or email.split('@')[0]}'s workspace"
        try:
            with session_scope() as session:
                ws = accounts.create_workspace(session, workspace[:200], actor_label=f"signup:{email}")
                user = accounts.create_user(session, email, password, ws, role=Role.owner.value, name=name,
                                            actor_label=f"signup:{email}")
                token = sessions.start_session(session, user, ws.id)
                verification.send_verification(session, user, ws.name)  # usable now; verified by the link
        except Conflict:
            self.auth_error = "An account with this email already exists. Log in instead."
            return None
        except FlowMateError as exc:
            self.auth_error = error_text(exc)
            return None
        self.session_token = token
        self.auth_error = ""
        self._load_identity()
        return rx.redirect("/")

    @rx.event
    def log_out(self) -> Any:
        if self.current_token():
            with session_scope() as session:
                sessions.log_out(session, self.current_token())
        self.session_token = ""
        self._clear_identity()
        return [rx.remove_cookie(sessions.COOKIE_NAME, {"path": "/"}), rx.redirect("/login")]

    @rx.event
    def switch_workspace(self, workspace_id: str) -> Any:
        if not self.current_token() or workspace_id == self.workspace_id:
            return None
        try:
            with session_scope() as session:
                sessions.switch_workspace(session, self.current_token(), workspace_id)
        except NotFound:
            return rx.toast.error("That workspace is not available.")
        self._load_identity()
        # Every list on the page belongs to the old workspace: load the page again.
        path = self.router.url.path or "/"
        if path.startswith(("/runs/", "/workflows/")):
            path = path.rsplit("/", 1)[0]
        return rx.redirect(path)
