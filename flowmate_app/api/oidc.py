"""/auth/oidc/<provider>/start and /callback: sign-in with an OpenID Connect provider.

``start`` puts the attempt (state, nonce, PKCE verifier; encrypted) in a short-lived HttpOnly
cookie scoped to /auth/oidc and redirects to the provider. ``callback`` verifies everything
(engine.services.oidc), signs the person in with the HttpOnly session cookie and continues to
the page they came from; a refusal lands on /login with ``?sso_error=<code>``, which the login
page turns into a sentence.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from engine.config import get_settings
from engine.db import session_scope
from engine.services import oidc, sessions
from flowmate_app.auth import safe_next
from flowmate_app.session_cookie import set_session_cookie

router = APIRouter(prefix="/auth/oidc", include_in_schema=False)
ATTEMPT_COOKIE = "flowmate_oidc"
ATTEMPT_PATH = "/auth/oidc"


def _refused(exc: oidc.OidcRefused) -> RedirectResponse:
    response = RedirectResponse(f"/login?{oidc.login_error_query(exc)}", status_code=303)
    response.delete_cookie(ATTEMPT_COOKIE, path=ATTEMPT_PATH)
    return response


@router.get("/{provider_id}/start")
def start(provider_id: str, next: str = "/") -> RedirectResponse:  # noqa: A002 - the query parameter's name
    try:
        url, attempt = oidc.begin(provider_id, safe_next(next))
    except oidc.OidcRefused as exc:
        return _refused(exc)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(ATTEMPT_COOKIE, attempt, max_age=oidc.ATTEMPT_TTL_S, path=ATTEMPT_PATH, httponly=True,
                        samesite="lax", secure=get_settings().env == "production")
    return response


@router.get("/{provider_id}/callback")
def callback(provider_id: str, request: Request) -> RedirectResponse:
    try:
        identity, next_path = oidc.complete(provider_id, dict(request.query_params),
                                            request.cookies.get(ATTEMPT_COOKIE))
        with session_scope() as session:
            result = oidc.sign_in(session, identity)
            token = sessions.start_session(session, result.user, result.workspace_id)
    except oidc.OidcRefused as exc:
        return _refused(exc)
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.delete_cookie(ATTEMPT_COOKIE, path=ATTEMPT_PATH)
    set_session_cookie(response, token)
    return response
