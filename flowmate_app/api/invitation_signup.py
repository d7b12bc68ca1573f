"""POST /auth/invitations/signup: the invitation page's sign-up form (a plain HTML form post).

Creates the invited person's account (engine.services.invitations.accept_for_signup), signs
them in with an HttpOnly session cookie and sends them to the dashboard. A refusal goes back to
the invitation page with ``?error=<code>``, which the page turns into a sentence. A cross-site
origin is refused, so no other site can sign a visitor into an account.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from engine.auth_limits import TooManyAttempts, check_flow
from engine.db import session_scope
from engine.errors import ValidationFailed
from engine.services import invitations, mfa, sessions
from flowmate_app.api.cors import origin_allowed
from flowmate_app.api.deps import client_ip
from flowmate_app.api.signin import mfa_step_url
from flowmate_app.session_cookie import set_mfa_pending_cookie, set_session_cookie

router = APIRouter(prefix="/auth", include_in_schema=False)


def _back(token: str, error: str) -> RedirectResponse:
    return RedirectResponse(f"/invite/{quote(token, safe='')}?error={error}", status_code=303)


@router.post("/invitations/signup")
def invitation_signup(request: Request, token: str = Form(""), name: str = Form(""),
                      password: str = Form("")) -> RedirectResponse:
    if not origin_allowed(request.headers.get("origin")):
        return _back(token, "origin")
    if len(password) < 8:
        return _back(token, "password")
    try:
        check_flow("invite", client_ip(request), token[:200], "invitation attempts")
    except TooManyAttempts as exc:
        response = _back(token, "rate_limited")
        response.headers["Retry-After"] = str(max(1, exc.retry_after))
        return response
    try:
        with session_scope() as session:
            view = invitations.lookup(session, token)
            user = invitations.accept_for_signup(session, token, password=password, name=name.strip()[:200])
            if mfa.workspace_requires(session, view.workspace_id):
                # The workspace requires MFA: the new account sets it up before its first session.
                user_id, clear = user.id, ""
            else:
                user_id, clear = "", sessions.start_session(session, user, view.workspace_id)
    except invitations.InvitationInvalid as exc:
        return _back(token, exc.reason)
    except ValidationFailed as exc:
        return _back(token, "exists" if "email" in exc.fields else "password")
    if user_id:
        response = RedirectResponse(mfa_step_url("/"), status_code=303)
        set_mfa_pending_cookie(response, user_id, view.workspace_id, "invitation")
        return response
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, clear)
    return response
