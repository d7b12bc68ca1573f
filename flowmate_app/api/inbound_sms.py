"""Inbound SMS webhooks: honour STOP / START replies the moment they arrive.

* ``POST /api/inbound/twilio/{workspace_id}``: set this as the number's "A message comes in"
  webhook. Twilio signs each request (``X-Twilio-Signature``: base64 HMAC-SHA1 of the public URL
  followed by the sorted form fields, keyed with the account's auth token); we check it against
  the auth token of each Twilio connection in the workspace and answer 403 when none fits.
* ``POST /api/inbound/clicksend/{secret}``: ClickSend's inbound "URL" rule. ClickSend does not
  sign requests, so the URL carries a per-workspace secret (created on the Contacts page, stored
  hashed); an unknown secret is 403.

STOP, UNSUBSCRIBE, OPT OUT, CANCEL, END, QUIT (any case) suppress the sender's number for
marketing SMS and withdraw their SMS consent; START / UNSTOP / SUBSCRIBE lift it again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import select

from engine.config import get_settings
from engine.crypto import SecretDecryptError, decrypt_json
from engine.db import session_scope
from engine.models import Connection, Workspace
from engine.services.contacts import apply_inbound_keyword, clicksend_workspace
from flowmate_app.api.errors import ApiError, responses

router = APIRouter(prefix="/api/inbound", tags=["inbound sms"])
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's request signature (their documented algorithm)."""
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def public_url(request: Request) -> str:
    """The URL Twilio called, as it signed it: FLOWMATE_BASE_URL + path (+ query)."""
    url = get_settings().base_url.rstrip("/") + request.url.path
    return url + (f"?{request.url.query}" if request.url.query else "")


def _twilio_tokens(session: Any, workspace_id: str) -> list[str]:
    tokens = []
    for conn in session.exec(select(Connection).where(Connection.workspace_id == workspace_id,
                                                      Connection.type == "twilio")).all():
        try:
            token = decrypt_json(conn.secret_encrypted).get("auth_token") if conn.secret_encrypted else None
        except SecretDecryptError:
            continue
        if token:
            tokens.append(str(token))
    return tokens


@router.post("/twilio/{workspace_id}", summary="Twilio inbound SMS (STOP/START)",
             responses={200: {"content": {"text/xml": {}}}, **responses(403, 404)})
async def twilio_inbound(workspace_id: str, request: Request) -> Response:
    form = await request.form()
    params = {k: str(v) for k, v in form.items()}
    signature = request.headers.get("x-twilio-signature", "")
    url = public_url(request)
    with session_scope() as session:
        if session.get(Workspace, workspace_id) is None:
            raise ApiError(404, "not_found", "no workspace at this address")
        tokens = _twilio_tokens(session, workspace_id)
        if not signature or not any(hmac.compare_digest(twilio_signature(t, url, params), signature)
                                    for t in tokens):
            raise ApiError(403, "forbidden", "X-Twilio-Signature does not match any Twilio connection of this "
                           "workspace (check FLOWMATE_BASE_URL is the public address Twilio calls)")
        apply_inbound_keyword(session, workspace_id, params.get("From", ""), params.get("Body", ""), "twilio")
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/clicksend/{secret}", summary="ClickSend inbound SMS (STOP/START)", responses=responses(400, 403))
async def clicksend_inbound(secret: str, request: Request) -> JSONResponse:
    if "json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            raise ApiError(400, "validation_error", "the body is not JSON", {"body": "send JSON or a form"}) from None
        data = data if isinstance(data, dict) else {}
    else:
        data = {k: str(v) for k, v in (await request.form()).items()}
    with session_scope() as session:
        workspace_id = clicksend_workspace(session, secret)
        if workspace_id is None:
            raise ApiError(403, "forbidden", "unknown inbound secret")
        sender = str(data.get("from") or data.get("originator") or "")
        body = str(data.get("body") or data.get("message") or "")
        handled = apply_inbound_keyword(session, workspace_id, sender, body, "clicksend")
    return JSONResponse({"ok": True, "handled": handled})
