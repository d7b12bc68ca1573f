"""POST /auth/login, /auth/signup, /auth/logout, /auth/mfa: the endpoints that write the session cookie.

With two-factor authentication on (or required by a workspace), a correct password does not
sign in: it sets a ten-minute, encrypted "MFA pending" cookie and sends the browser to
/login/mfa, and only ``POST /auth/mfa`` (a code) or ``/auth/mfa/setup`` (the first code of a
required set-up) issues the session. ``POST /auth/forgot`` asks for a reset link, rate limited
per client and per address.

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
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from engine.auth_limits import TooManyAttempts, check_flow, throttles
from engine.db import session_scope
from engine.errors import Conflict, Forbidden
from engine.models import User
from engine.passwords import PasswordWorkBusy, run_bounded
from engine.services import accounts, mfa, password_reset, sessions, sso_policy, verification
from engine.services.sessions import COOKIE_NAME
from flowmate_app.api.cors import origin_allowed
from flowmate_app.api.deps import client_ip
from flowmate_app.api.errors import ApiError, error_json, responses
from flowmate_app.session_cookie import (
    MFA_COOKIE,
    clear_mfa_pending_cookie,
    clear_session_cookie,
    read_mfa_pending,
    safe_next,
    set_mfa_pending_cookie,
    set_session_cookie,
)

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

    def check() -> tuple[str, str]:
        """(session token, "") when signed in; ("", user id) when a second factor must follow."""
        with session_scope() as session:
            user = accounts.authenticate(session, email, password, client=client)
            # Only after a correct password (so it reveals nothing): a workspace may require SSO.
            sso_policy.refuse_password_login(session, email)
            if mfa.login_step(session, user) != "none":
                return "", user.id  # no session yet: the code (or MFA set-up) comes first
            return sessions.start_session(session, user, replaces=previous), ""

    try:
        token, pending_user = await run_bounded(check)
    except accounts.LoginLocked as exc:
        return _retry(429, "locked", str(exc), exc.retry_after)
    except PasswordWorkBusy as exc:
        return _retry(503, "busy", str(exc), 2)
    except sso_policy.SsoRequired as exc:
        return error_json(403, "sso_required", str(exc))
    except Forbidden:
        return error_json(401, "invalid_credentials", accounts.INVALID_LOGIN)
    next_path = safe_next(form.get("next"))
    if pending_user:
        return mfa_pending_response(pending_user, None, "password", next_path)
    response = JSONResponse({"ok": True, "next": next_path})
    set_session_cookie(response, token)
    return response


def mfa_step_url(next_path: str) -> str:
    return "/login/mfa?" + urlencode({"next": safe_next(next_path)})


def mfa_pending_response(user_id: str, workspace_id: str | None, via: str, next_path: str) -> JSONResponse:
    """The first factor passed: the browser goes to the code prompt (or set-up), not into the app."""
    response = JSONResponse({"ok": True, "mfa": True, "next": mfa_step_url(next_path)})
    set_mfa_pending_cookie(response, user_id, workspace_id, via)
    return response


def _pending(request: Request) -> dict[str, Any]:
    pending = read_mfa_pending(request.cookies.get(MFA_COOKIE))
    if pending is None:
        raise ApiError(401, "mfa_expired", "This sign-in has expired. Log in again.")
    return pending


@router.post("/mfa", summary="Second sign-in step: an authenticator or recovery code (sets the session cookie)",
             responses=responses(401, 409))
async def mfa_verify(request: Request) -> JSONResponse:
    _same_site(request)
    form = await _form(request)
    _required(form, "code")
    pending, client, previous = _pending(request), client_ip(request), request.cookies.get(COOKIE_NAME)

    def check() -> tuple[str, str]:
        with session_scope() as session:
            user = session.get(User, pending["u"])
            if user is None:
                raise ApiError(401, "mfa_expired", "This sign-in has expired. Log in again.")
            if not mfa.is_enabled(session, user.id):
                raise ApiError(409, "mfa_setup_required", "Set up two-factor authentication first.")
            how = mfa.verify_login(session, user, form["code"], client)
            return sessions.start_session(session, user, pending.get("w"), replaces=previous), how

    try:
        token, how = await run_in_threadpool(check)
    except accounts.LoginLocked as exc:
        return _retry(429, "locked", str(exc), exc.retry_after)
    except mfa.MfaCodeInvalid as exc:
        return error_json(401, "invalid_code", exc.message, exc.fields)
    response = JSONResponse({"ok": True, "next": safe_next(form.get("next")), "used": how})
    clear_mfa_pending_cookie(response)
    set_session_cookie(response, token)
    return response


@router.post("/mfa/setup", summary="Finish required MFA set-up at sign-in: the first code (sets the session cookie)",
             responses=responses(401, 409))
async def mfa_setup(request: Request) -> JSONResponse:
    """Answers the ten recovery codes once; the page shows them before going on."""
    _same_site(request)
    form = await _form(request)
    _required(form, "code")
    pending, client, previous = _pending(request), client_ip(request), request.cookies.get(COOKIE_NAME)

    def confirm() -> tuple[str, list[str]]:
        limits = throttles()
        with session_scope() as session:
            user = session.get(User, pending["u"])
            if user is None:
                raise ApiError(401, "mfa_expired", "This sign-in has expired. Log in again.")
            wait = limits.login_retry_after(user.email, client)
            if wait:
                raise accounts.LoginLocked(wait)
            try:
                codes = mfa.confirm_setup(session, user, form["code"])
            except mfa.MfaCodeInvalid:
                limits.login_failed(user.email, client)  # guessing at set-up counts like any wrong code
                raise
            return sessions.start_session(session, user, pending.get("w"), replaces=previous), codes

    try:
        token, codes = await run_in_threadpool(confirm)
    except accounts.LoginLocked as exc:
        return _retry(429, "locked", str(exc), exc.retry_after)
    except mfa.MfaCodeInvalid as exc:
        return error_json(401, "invalid_code", exc.message, exc.fields)
    except Conflict as exc:
        return error_json(409, "mfa_already_on", str(exc))
    response = JSONResponse({"ok": True, "next": safe_next(form.get("next")), "recovery_codes": codes})
    clear_mfa_pending_cookie(response)
    set_session_cookie(response, token)
    return response


@router.post("/forgot", summary="Ask for a password-reset link (same answer whether or not the account exists)")
async def forgot(request: Request) -> JSONResponse:
    _same_site(request)
    form = await _form(request)
    _required(form, "email")
    try:
        check_flow("reset", client_ip(request), form["email"], "reset requests")
    except TooManyAttempts as exc:
        return _retry(429, "too_many_requests", str(exc), exc.retry_after)
    message = await run_in_threadpool(password_reset.request_reset, form["email"])
    return JSONResponse({"ok": True, "message": message})


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
