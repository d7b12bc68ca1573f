"""POST /auth/login, /auth/signup, /auth/logout: the only endpoints that write the session cookie.

The login and sign-up pages send their form here with ``fetch`` (JSON or form-encoded) and load
the next page in full on success, so the app's websocket reconnects carrying the new HttpOnly
cookie; Reflex state never sees the token.

Password work (argon2 and its database lookups) runs on the small bounded password pool
(engine.passwords), never on the event loop: a login flood cannot stall webhooks or pages.
Answers never tell which accounts exist (see engine.services.accounts).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from engine.db import session_scope
from engine.errors import Forbidden
from engine.passwords import PasswordWorkBusy, run_bounded
from engine.services import accounts, sessions, sso_policy, verification
from engine.services.sessions import COOKIE_NAME
from flowmate_app.api.cors import origin_allowed
from flowmate_app.api.deps import client_ip
from flowmate_app.api.errors import ApiError, error_json, responses
from flowmate_app.session_cookie import clear_session_cookie, safe_next, set_session_cookie

router = APIRouter(prefix="/auth", tags=["sign-in"], responses=responses(403, 422, 429, 503))

MAX_FORM_BYTES = 16 * 1024


def _same_site(request: Request) -> None:
    """Refuse cross-site form posts (login CSRF: signing a victim into the attacker's account)."""
    if request.headers.get("sec-fetch-site") == "cross-site" or not origin_allowed(request.headers.get("origin")):
        raise ApiError(403, "forbidden", "cross-site request refused: this origin is not allowed")


async def _form(request: Request) -> dict[str, str]:
    """The posted fields, JSON or form-encoded; every value a string."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ApiError(413, "payload_too_large", f"the form is larger than {MAX_FORM_BYTES} bytes")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw: Any
    if content_type == "application/json":
        try:
            raw = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "bad_request", "the body is not valid JSON", {"body": "invalid JSON"}) from None
        if not isinstance(raw, dict):
            raise ApiError(422, "validation_failed", "send a JSON object", {"body": "must be an object"})
    elif content_type in ("application/x-www-form-urlencoded", ""):
        raw = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    else:
        raise ApiError(415, "unsupported_media_type", "send application/json or a form")
    return {str(k): v if isinstance(v, str) else "" for k, v in raw.items()}


def _required(form: dict[str, str], *names: str) -> None:
    missing = {name: "required" for name in names if not form.get(name, "").strip()}
    if missing:
        raise ApiError(422, "validation_failed", "enter your " + " and ".join(missing), missing)


def _retry(status: int, code: str, message: str, retry_after: int) -> JSONResponse:
    return error_json(status, code, message, headers={"Retry-After": str(max(1, retry_after))})


@router.post("/login", summary="Sign in with email and password (sets the session cookie)")
async def login(request: Request) -> JSONResponse:
    _same_site(request)
    form = await _form(request)
    _required(form, "email", "password")
    email, password, client = form["email"], form["password"], client_ip(request)
    previous = request.cookies.get(COOKIE_NAME)

    def check() -> str:
        with session_scope() as session:
            token = sessions.log_in(session, email, password, client=client, replaces=previous)
            # Only after a correct password (so it reveals nothing): a workspace may require SSO.
            sso_policy.refuse_password_login(session, email)  # raising rolls the new session back
            return token

    try:
        token = await run_bounded(check)
    except accounts.LoginLocked as exc:
        return _retry(429, "locked", str(exc), exc.retry_after)
    except PasswordWorkBusy as exc:
        return _retry(503, "busy", str(exc), 2)
    except sso_policy.SsoRequired as exc:
        return error_json(403, "sso_required", str(exc))
    except Forbidden:
        return error_json(401, "invalid_credentials", accounts.INVALID_LOGIN)
    response = JSONResponse({"ok": True, "next": safe_next(form.get("next"))})
    set_session_cookie(response, token)
    return response


@router.post("/signup", summary="Create an account and its workspace (FLOWMATE_SIGNUP=open)")
async def signup(request: Request) -> JSONResponse:
    _same_site(request)
    form = await _form(request)
    _required(form, "email", "password")
    client = client_ip(request)
    previous = request.cookies.get(COOKIE_NAME)

    def create() -> str:
        with session_scope() as session:
            user, ws = accounts.sign_up(session, form["email"], form["password"], name=form.get("name", ""),
                                        workspace_name=form.get("workspace", ""), client=client)
            verification.send_verification(session, user, ws.name)  # usable now; verified by the link
            return sessions.start_session(session, user, ws.id, replaces=previous)

    try:
        token = await run_bounded(create)
    except accounts.SignupRefused as exc:
        if exc.retry_after:
            return _retry(429, "too_many_requests", str(exc), exc.retry_after)
        return error_json(403, "signup_refused", str(exc))
    except PasswordWorkBusy as exc:
        return _retry(503, "busy", str(exc), 2)
    response = JSONResponse({"ok": True, "next": "/"}, status_code=201)
    set_session_cookie(response, token)
    return response


@router.post("/logout", summary="End this browser's session and clear the cookie")
def logout(request: Request) -> JSONResponse:
    _same_site(request)
    token = request.cookies.get(COOKIE_NAME)
    if token:
        with session_scope() as session:
            sessions.log_out(session, token)
    response = JSONResponse({"ok": True, "next": "/login"})
    clear_session_cookie(response)
    return response
