"""The session cookie: the ONE place that writes, clears and reads ``flowmate_session``.

The cookie is ``HttpOnly`` (no script on the page can read it), ``SameSite=Lax`` (it does not
ride along on cross-site POSTs or cross-site websocket connections) and ``Secure`` in
production (FLOWMATE_COOKIE_SECURE overrides). Only HTTP endpoints set it (/auth/login,
/auth/signup, and any other sign-in flow such as OIDC or an accepted invitation): Reflex state
never holds the token, it reads the cookie from the request headers of its websocket
(:func:`token_from_cookie_header`).

Kept free of Reflex imports so the FastAPI routes can use it.
"""

from __future__ import annotations

import time
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from engine.config import get_settings
from engine.crypto import SecretDecryptError, decrypt_json, encrypt_json
from engine.services.sessions import COOKIE_NAME, SESSION_LIFETIME

SESSION_MAX_AGE_S = int(SESSION_LIFETIME.total_seconds())


def set_session_cookie(response: Any, token: str) -> None:
    """Put a freshly issued session token on ``response`` (a Starlette/FastAPI Response)."""
    response.set_cookie(
        COOKIE_NAME, token, max_age=SESSION_MAX_AGE_S, path="/", httponly=True, samesite="lax",
        secure=get_settings().session_cookie_secure,
    )


def clear_session_cookie(response: Any) -> None:
    """Tell the browser to forget the session cookie (same attributes, so it matches)."""
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax",
                           secure=get_settings().session_cookie_secure)


def token_from_cookie_header(header: str | None, name: str = COOKIE_NAME) -> str:
    """The session token (or the cookie ``name``) in a raw ``Cookie:`` header ("" when absent)."""
    if not header or name not in header:
        return ""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        # One malformed cookie from another app on the same host must not sign the person out.
        for part in header.split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value.strip().strip('"')
        return ""
    morsel = jar.get(name)
    return morsel.value if morsel is not None else ""


def safe_next(target: str | None) -> str:
    """Only same-site paths are allowed as a post-login destination (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/signup"):
        return "/"
    return target


# ----------------------------------------------------------------------------- the MFA step

#: Between a correct first factor (password or SSO) and the second: who, where to, how, since when.
MFA_COOKIE = "flowmate_mfa"
MFA_PENDING_TTL_S = 600


def set_mfa_pending_cookie(response: Any, user_id: str, workspace_id: str | None, via: str) -> None:
    """Remember, encrypted and HttpOnly, that ``user_id`` passed the first factor. It is NOT a
    session: it only lets the browser reach the code prompt (or MFA set-up) for ten minutes."""
    value = encrypt_json({"u": user_id, "w": workspace_id, "via": via, "t": int(time.time())})
    response.set_cookie(MFA_COOKIE, value, max_age=MFA_PENDING_TTL_S, path="/", httponly=True, samesite="lax",
                        secure=get_settings().session_cookie_secure)


def clear_mfa_pending_cookie(response: Any) -> None:
    response.delete_cookie(MFA_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=get_settings().session_cookie_secure)


def read_mfa_pending(value: str | None) -> dict[str, Any] | None:
    """The pending second step in the cookie, or None when absent, forged or older than ten minutes."""
    if not value:
        return None
    try:
        data = decrypt_json(value)
    except SecretDecryptError:
        return None
    if not data.get("u") or time.time() - int(data.get("t", 0)) > MFA_PENDING_TTL_S:
        return None
    return data
