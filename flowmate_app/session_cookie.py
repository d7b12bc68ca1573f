"""The session cookie, set and cleared by HTTP routes (OIDC callback, invitation sign-up).

HttpOnly (page scripts never see the token), SameSite=Lax (not sent on cross-site POSTs) and
Secure in production. Its name and lifetime come from engine.services.sessions.
"""

from __future__ import annotations

from typing import Any

from engine.config import get_settings
from engine.services import sessions


def set_session_cookie(response: Any, token: str) -> None:
    response.set_cookie(sessions.COOKIE_NAME, token, max_age=int(sessions.SESSION_LIFETIME.total_seconds()),
                        path="/", httponly=True, samesite="lax", secure=get_settings().env == "production")


def clear_session_cookie(response: Any) -> None:
    response.delete_cookie(sessions.COOKIE_NAME, path="/", httponly=True, samesite="lax",
                           secure=get_settings().env == "production")
