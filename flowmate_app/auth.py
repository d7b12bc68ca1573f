"""Who is signed in: the session cookie, the current workspace and role, sign up / log in / out.

Every feature state subclasses :class:`AuthState` so its handlers can call ``self.actor()`` and
pass the result to engine/services, which enforce roles and workspace scoping. The UI reads
``can_edit`` / ``is_admin`` only to hide or disable controls; the services are the real gate.

The session token lives only in an HttpOnly cookie written by the /auth HTTP endpoints
(flowmate_app.api.signin). State never stores it: every handler reads it from the Cookie
header of this browser's websocket connection (``self.router.headers``), which no script on
the page can read or change. Signing in or out loads the next page in full, so the websocket
reconnects with the new cookie.

Protected pages use ``on_load=[AuthState.require_login, ...]``: without a valid session the
browser goes to ``/login?next=<where it was>``.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar
from urllib.parse import quote

import reflex as rx

from engine.config import get_settings
from engine.db import session_scope
from engine.errors import FlowMateError, NotFound, ValidationFailed
from engine.models import Role
from engine.services import account_sessions, accounts, sessions
from engine.services.actor import Actor
from flowmate_app.session_cookie import SESSION_MAX_AGE_S, safe_next, token_from_cookie_header

_HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")

__all__ = ["SESSION_MAX_AGE_S", "AuthState", "error_text", "plain_method", "safe_next"]

F = TypeVar("F")


def plain_method(fn: F) -> F:
    """Keep a public state method a normal Python method instead of an event handler.

    Reflex turns every public method of a state into an event handler the browser could call;
    helpers such as ``actor()`` must only ever be called by the backend itself.
    """
    fn.__override_base_method__ = True  # type: ignore[attr-defined]
    return fn


def error_text(exc: Exception) -> str:
    """A one-line message for a service error, with the first field detail when there is one."""
    if isinstance(exc, ValidationFailed) and exc.fields:
        field, message = next(iter(exc.fields.items()))
        return f"{exc.message}: {field} {message}".rstrip()
    return str(exc) or exc.__class__.__name__


class AuthState(rx.State):
    """The signed-in identity, shared by every page."""

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
    #: Where the browser posts the forms: this backend's own origin (the websocket's Host), so it
    #: also works in development, where pages (:3000) and backend (:8000) are different origins.
    auth_api: str = ""
    signup_mode: str = "open"

    # ----------------------------------------------------------------- backend helpers

    def _session_token(self) -> str:
        """The session token from this connection's Cookie header (never stored in state)."""
        return token_from_cookie_header(self.router.headers.cookie)

    @plain_method
    def current_token(self) -> str:
        """The session token for feature states that pass it to services (account page, links)."""
        return self._session_token()

    @plain_method
    def actor(self) -> Actor | None:
        """The services Actor for this browser session (None when signed out or revoked)."""
        token = self._session_token()
        if not token:
            return None
        with session_scope() as session:
            return sessions.session_actor(session, token)

    def _record_device(self) -> None:
        """Note this browser's device, IP and time on its session (every protected page load)."""
        try:
            with session_scope() as session:
                account_sessions.touch(session, self._session_token(), self.router.headers.user_agent,
                                       self.router.session.client_ip)
        except FlowMateError:
            pass  # bookkeeping only: never block a page on it

    def _load_identity(self) -> bool:
        """Read user, workspace, role and workspace list for the cookie; False when signed out."""
        token = self._session_token()
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
            self._record_device()  # the account page's "last seen, device, IP"
            return None
        return rx.redirect(f"/login?next={quote(self._current_path(), safe='')}")

    def _backend_origin(self) -> str:
        """This backend's origin as the browser reaches it (scheme of the page, Host of the socket)."""
        headers = self.router.headers
        scheme = "https" if headers.origin.startswith("https:") else "http"
        host = headers.host if _HOST_RE.match(headers.host or "") else ""
        return f"{scheme}://{host}" if host else ""

    @rx.event
    def redirect_if_signed_in(self) -> Any:
        """on_load of /login and /signup: a signed-in person goes straight to the app."""
        self.auth_error = ""
        self.auth_busy = False
        self.auth_api = self._backend_origin()
        self.signup_mode = get_settings().signup_mode
        if self._load_identity():
            return rx.redirect(safe_next(self.router.url.query_parameters.get("next")))
        return None

    @rx.event
    def auth_started(self) -> None:
        self.auth_error = ""
        self.auth_busy = True

    @rx.event
    def auth_finished(self, result: Any) -> None:
        """The answer of /auth/login or /auth/signup (the page itself loads the next page on success)."""
        if isinstance(result, dict) and result.get("ok"):
            return
        message = result.get("message") if isinstance(result, dict) else None
        self.auth_error = str(message or "Something went wrong. Try again.")[:300]
        self.auth_busy = False

    @rx.event
    def log_out(self) -> Any:
        """Ask /auth/logout to end the session and clear the cookie, then load /login in full."""
        self._clear_identity()
        return rx.call_script(logout_script(self._backend_origin()))

    @rx.event
    def switch_workspace(self, workspace_id: str) -> Any:
        token = self._session_token()
        if not token or workspace_id == self.workspace_id:
            return None
        try:
            with session_scope() as session:
                sessions.switch_workspace(session, token, workspace_id)
        except NotFound:
            return rx.toast.error("That workspace is not available.")
        self._load_identity()
        # Every list on the page belongs to the old workspace: load the page again.
        path = self.router.url.path or "/"
        if path.startswith(("/runs/", "/workflows/")):
            path = path.rsplit("/", 1)[0]
        return rx.redirect(path)


def submit_script(endpoint: str, form_id: str, navigate: bool = True) -> Any:
    """JavaScript (as a Var) that posts the form ``form_id`` to ``endpoint`` on this backend.

    The password goes straight from the form to the HTTP endpoint (never through a Reflex
    event). On success the next page loads in full (the websocket reconnects with the new
    HttpOnly cookie) unless ``navigate`` is false or the answer carries recovery codes to show
    first (then the promise resolves to ``{ok: true, ...answer}``); otherwise it resolves to
    ``{ok: false, status, retry_after, message}`` for :meth:`AuthState.auth_finished`.
    """
    return (
        "(async () => {"
        f"const form = document.getElementById({json.dumps(form_id)});"
        "const data = new URLSearchParams(new FormData(form));"
        "data.set('next', new URLSearchParams(window.location.search).get('next') || '/');"
        "try {"
        # The state value is spliced into the code as text: _backend_origin() lets through only
        # characters that cannot leave the string literal.
        f"const r = await fetch(\"{AuthState.auth_api}{endpoint}\", "
        "{method: 'POST', credentials: 'include', headers: {'Accept': 'application/json'}, body: data});"
        "const body = await r.json().catch(() => ({}));"
        + ("if (r.ok && !body.recovery_codes) { window.location.assign(body.next || '/'); return {ok: true}; }"
           if navigate else "")
        + "if (r.ok) { return Object.assign({ok: true}, body); }"
        "const wait = r.headers.get('Retry-After');"
        "return {ok: false, status: r.status, retry_after: wait ? parseInt(wait, 10) : 0,"
        " message: (body.error && body.error.message) || ('That did not work (HTTP ' + r.status + ').')};"
        "} catch (e) {"
        " return {ok: false, message: 'FlowMate could not be reached. Check your connection and try again.'}; }"
        "})()"
    )


def logout_script(origin: str) -> str:
    return (
        f"fetch({json.dumps(origin + '/auth/logout')}, {{method: 'POST', credentials: 'include'}})"
        ".catch(() => null).then(() => window.location.assign('/login'))"
    )
