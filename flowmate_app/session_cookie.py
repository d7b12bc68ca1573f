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

from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from engine.config import get_settings
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


def token_from_cookie_header(header: str | None) -> str:
    """The session token in a raw ``Cookie:`` header ("" when absent or unparsable)."""
    if not header or COOKIE_NAME not in header:
        return ""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        # One malformed cookie from another app on the same host must not sign the person out.
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE_NAME:
                return value.strip().strip('"')
        return ""
    morsel = jar.get(COOKIE_NAME)
    return morsel.value if morsel is not None else ""


def safe_next(target: str | None) -> str:
    """Only same-site paths are allowed as a post-login destination (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/signup"):
        return "/"
    return target
