"""/login/mfa: the second sign-in step. It only reads the "MFA pending" cookie (set by a correct
password or SSO sign-in); the code itself is posted straight to /auth/mfa or /auth/mfa/setup,
which issue the session cookie. Reflex state never holds a session token."""

from __future__ import annotations

from typing import Any

import reflex as rx

from engine.db import session_scope
from engine.errors import Conflict
from engine.models import User
from engine.services import mfa
from flowmate_app.auth import AuthState
from flowmate_app.session_cookie import MFA_COOKIE, read_mfa_pending, safe_next, token_from_cookie_header


class MfaLoginState(AuthState):
    # "" (loading) | expired | verify | setup | codes
    mfa_mode: str = ""
    mfa_secret: str = ""
    mfa_qr: str = ""
    mfa_required_by: str = ""
    mfa_codes: list[str] = []
    mfa_next: str = "/"

    @rx.event
    def open_mfa(self) -> None:
        self.auth_api = self._backend_origin()
        self.auth_error, self.auth_busy, self.mfa_codes = "", False, []
        self.mfa_next = safe_next(self.router.url.query_parameters.get("next"))
        pending = read_mfa_pending(token_from_cookie_header(self.router.headers.cookie, MFA_COOKIE))
        if pending is None:
            self.mfa_mode = "expired"
            return
        with session_scope() as session:
            user = session.get(User, pending["u"])
            step = mfa.login_step(session, user) if user is not None else "none"
            if step == "setup":
                assert user is not None
                self.mfa_required_by = ", ".join(mfa.requiring_workspaces(session, user.id))
                try:
                    setup = mfa.begin_setup(session, user)
                except Conflict:
                    step = "verify"
                else:
                    self.mfa_secret, self.mfa_qr = _grouped(setup.secret), setup.qr_data_uri
        self.mfa_mode = step if step in ("verify", "setup") else "expired"

    @rx.event
    def setup_finished(self, result: Any) -> None:
        """The answer of /auth/mfa/setup: show the recovery codes once, then go on."""
        self.auth_busy = False
        if isinstance(result, dict) and result.get("ok") and result.get("recovery_codes"):
            self.mfa_codes = [str(c) for c in result["recovery_codes"]][:20]
            self.mfa_next = safe_next(str(result.get("next") or "/"))
            self.mfa_secret = self.mfa_qr = ""
            self.mfa_mode = "codes"
            return
        message = result.get("message") if isinstance(result, dict) else None
        self.auth_error = str(message or "Something went wrong. Try again.")[:300]


def _grouped(secret: str) -> str:
    """ABCD EFGH ...: easier to type from the screen (authenticator apps ignore the spaces)."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
