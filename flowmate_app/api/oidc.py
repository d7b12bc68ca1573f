"""/auth/oidc/<provider>/start and /callback: sign-in with an OpenID Connect provider.

``start`` puts the attempt (state, nonce, PKCE verifier; encrypted) in a short-lived HttpOnly
cookie scoped to /auth/oidc and redirects to the provider. ``callback`` verifies everything
(engine.services.oidc), signs the person in with the HttpOnly session cookie and continues to
the page they came from; a refusal lands on /login with ``?sso_error=<code>``, which the login
page turns into a sentence. With MFA on (or required), the callback sets the "MFA pending" cookie
instead and continues to /login/mfa. Both endpoints are rate limited per client IP (and the
callback per identity too): over the limit they answer a 429 page with Retry-After.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from engine.auth_limits import TooManyAttempts, check_flow
from engine.config import get_settings
from engine.db import session_scope
from engine.services import mfa, oidc, sessions
from flowmate_app.api.deps import client_ip
from flowmate_app.api.signin import mfa_step_url
from flowmate_app.session_cookie import safe_next, set_mfa_pending_cookie, set_session_cookie

router = APIRouter(prefix="/auth/oidc", include_in_schema=False)
ATTEMPT_COOKIE = "flowmate_oidc"
ATTEMPT_PATH = "/auth/oidc"


def _refused(exc: oidc.OidcRefused) -> RedirectResponse:
    response = RedirectResponse(f"/login?{oidc.login_error_query(exc)}", status_code=303)
    response.delete_cookie(ATTEMPT_COOKIE, path=ATTEMPT_PATH)
    return response


def _limited(request: Request, address: str = "") -> Any:
    """Too many sign-on attempts from this client (or for this identity): a 429 page, or None."""
    try:
        check_flow("oidc", client_ip(request), address, "sign-in attempts")
    except TooManyAttempts as exc:
        return _rate_limited_page(exc)
    return None


def _rate_limited_page(exc: TooManyAttempts) -> Any:
    minutes = max(1, -(-exc.retry_after // 60))
    body = (f"<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=\"{exc.retry_after};url=/login\">"
            "<title>Too many sign-in attempts · FlowMate</title>"
            "<body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">"
            "<h1 style=\"font-size:1.4rem\">Too many sign-in attempts</h1>"
            f"<p id=sso-rate-limited>{html.escape(str(exc))}</p>"
            f"<p><a href=/login>Back to log in</a> (wait about {minutes} minute{'s' if minutes > 1 else ''}).</p>")
    return HTMLResponse(body, status_code=429, headers={"Retry-After": str(max(1, exc.retry_after))})


@router.get("/{provider_id}/start")
def start(provider_id: str, request: Request, next: str = "/") -> Any:  # noqa: A002 - the query parameter's name
    limited = _limited(request)
    if limited is not None:
        return limited
    try:
        url, attempt = oidc.begin(provider_id, safe_next(next))
    except oidc.OidcRefused as exc:
        return _refused(exc)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(ATTEMPT_COOKIE, attempt, max_age=oidc.ATTEMPT_TTL_S, path=ATTEMPT_PATH, httponly=True,
                        samesite="lax", secure=get_settings().env == "production")
    return response


@router.get("/{provider_id}/callback")
def callback(provider_id: str, request: Request) -> Any:
    limited = _limited(request)
    if limited is not None:
        return limited
    try:
        identity, next_path = oidc.complete(provider_id, dict(request.query_params),
                                            request.cookies.get(ATTEMPT_COOKIE))
        limited = _limited(request, f"{identity.provider}:{identity.subject}")
        if limited is not None:
            return limited
        with session_scope() as session:
            result = oidc.sign_in(session, identity)
            # SSO sign-ins ask for the FlowMate second factor too (docs/accounts.md says why).
            step_needed = mfa.login_step(session, result.user) != "none"
            token = "" if step_needed else sessions.start_session(session, result.user, result.workspace_id)
            user_id = result.user.id
    except oidc.OidcRefused as exc:
        return _refused(exc)
    if step_needed:
        response = RedirectResponse(mfa_step_url(next_path), status_code=303)
        set_mfa_pending_cookie(response, user_id, result.workspace_id, f"oidc:{provider_id}")
    else:
        response = RedirectResponse(safe_next(next_path), status_code=303)
        set_session_cookie(response, token)
    response.delete_cookie(ATTEMPT_COOKIE, path=ATTEMPT_PATH)
    return response
