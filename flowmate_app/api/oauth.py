"""``/oauth/start``, ``/oauth/callback`` and the tenant choice: the browser side of "Connect".

These are browser pages, not JSON API: the person arrives by clicking Connect (with the web
session cookie) and comes back from the provider by redirect. Every refusal is a small HTML page
that says what happened and links back to Connections, with status 4xx; nothing is changed.
Answers are never cached and send no Referer (the callback URL carries the one-time code).
``GET /api/v1/oauth/providers`` tells scripts and the UI which providers this server can connect.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from engine.db import session_scope
from engine.errors import Conflict, FlowMateError, Forbidden, NotFound, ValidationFailed
from engine.oauth import connect
from engine.oauth.providers import all_flows
from engine.oauth.tokens import ReconnectNeeded
from engine.services.actor import Actor
from engine.services.sessions import COOKIE_NAME, session_actor
from flowmate_app.api.cors import origin_allowed
from flowmate_app.api.deps import current_actor
from flowmate_app.api.errors import responses

router = APIRouter(tags=["oauth"])

_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                       "frame-ancestors 'none'"}

_STYLE = """body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f7f7f8;color:#1c2024;margin:0}
main{max-width:30rem;margin:12vh auto;background:#fff;border:1px solid #e0e1e6;border-radius:12px;padding:2rem}
h1{font-size:1.25rem;margin:0 0 .75rem}p{line-height:1.5;color:#555}a,button{font:inherit}
.btn{display:inline-block;background:#3e63dd;color:#fff;border:0;border-radius:8px;padding:.55rem 1rem;
text-decoration:none;cursor:pointer}.btn:focus{outline:3px solid #9eb1ff}
label{display:flex;gap:.6rem;align-items:center;padding:.6rem;border:1px solid #e0e1e6;border-radius:8px;
margin:.4rem 0;cursor:pointer}.err{color:#ce2c31}"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
           f"content='width=device-width,initial-scale=1'><title>{html.escape(title)} · FlowMate</title>"
           f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>")
    return HTMLResponse(doc, status_code=status, headers=_HEADERS)


def _refusal(message: str, status: int = 400) -> HTMLResponse:
    return _page("Could not connect", f"<h1 class='err' id='oauth-error'>Could not connect</h1>"
                 f"<p id='oauth-message'>{html.escape(message)}</p>"
                 "<p><a class='btn' href='/connections'>Back to Connections</a></p>", status)


def _browser_actor(request: Request) -> tuple[Actor | None, str | None]:
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None, None
    with session_scope() as session:
        return session_actor(session, token), token


def _status_for(exc: FlowMateError) -> int:
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    return 400


def _error_text(exc: FlowMateError) -> str:
    if isinstance(exc, ValidationFailed):
        return "; ".join([exc.message, *exc.fields.values()])
    return str(exc)


@router.get("/oauth/start", include_in_schema=False)
def start(request: Request, type: str = Query(..., max_length=32), name: str = Query("", max_length=200),
          connection_id: str | None = Query(None, max_length=32)) -> Response:
    """Begin connecting: remember a one-time state and send the browser to the provider."""
    actor, token = _browser_actor(request)
    if actor is None or token is None:
        return RedirectResponse("/login", status_code=303, headers=_HEADERS)
    try:
        with session_scope() as session:
            url = connect.start_connect(session, actor, token, type, name, connection_id)
    except FlowMateError as exc:
        return _refusal(_error_text(exc), _status_for(exc))
    return RedirectResponse(url, status_code=303, headers=_HEADERS)


def _tenant_page(result: connect.Connected, flow_title: str) -> HTMLResponse:
    options = "".join(
        f"<label><input type='radio' name='tenant_id' value='{html.escape(t['id'])}' required"
        f"{' checked' if i == 0 else ''}> {html.escape(t['name'])}</label>" for i, t in enumerate(result.tenants))
    return _page(f"Choose a {flow_title} organisation", (
        f"<h1>Choose the {html.escape(flow_title)} organisation</h1>"
        f"<p>“{html.escape(result.name)}” can reach {len(result.tenants)} organisations. Steps using this "
        "connection work in the one you pick (you can change it later).</p>"
        f"<form method='post' action='/oauth/tenant' id='tenant-form'>"
        f"<input type='hidden' name='connection_id' value='{html.escape(result.connection_id)}'>{options}"
        "<p><button class='btn' type='submit' id='tenant-save'>Use this organisation</button></p></form>"))


@router.get("/oauth/callback", include_in_schema=False)
async def callback(request: Request, state: str = Query("", max_length=200), code: str | None = Query(None,
                   max_length=4000), error: str | None = Query(None, max_length=200)) -> Response:
    """Where the provider sends the browser back: consume the state, store the tokens."""
    try:
        result = await connect.complete_connect(state, code, error, request.cookies.get(COOKIE_NAME))
    except connect.ConnectRefused as exc:
        return _refusal(str(exc))
    except FlowMateError as exc:
        return _refusal(_error_text(exc), _status_for(exc))
    flow = all_flows()[result.connection_type]
    if result.needs_tenant:
        return _tenant_page(result, flow.title)
    return RedirectResponse(f"/connections?connected={quote(result.name)}", status_code=303, headers=_HEADERS)


@router.get("/oauth/tenants/{connection_id}", include_in_schema=False)
async def tenants(request: Request, connection_id: str) -> Response:
    """Choose (or change) the organisation of an existing connection."""
    actor, _ = _browser_actor(request)
    if actor is None:
        return RedirectResponse("/login", status_code=303, headers=_HEADERS)
    try:
        with session_scope() as session:
            from engine.services.connections import get_connection

            conn = get_connection(session, actor, connection_id)
            name, type_ = conn.name, conn.type
        items = await connect.list_tenants(actor, connection_id)
    except (FlowMateError, ReconnectNeeded) as exc:
        return _refusal(_error_text(exc), _status_for(exc))
    if not items:
        return _refusal("This connection reaches no organisation. Reconnect and pick one at the provider.")
    flow = all_flows()[type_]
    return _tenant_page(connect.Connected(connection_id=connection_id, name=name, connection_type=type_,
                                          tenants=items), flow.title)


@router.post("/oauth/tenant", include_in_schema=False)
async def choose_tenant(request: Request, connection_id: str = Form(..., max_length=32),
                        tenant_id: str = Form(..., max_length=64)) -> Response:
    if not origin_allowed(request.headers.get("origin")):
        return _refusal("Cross-site request refused.", 403)
    actor, _ = _browser_actor(request)
    if actor is None:
        return RedirectResponse("/login", status_code=303, headers=_HEADERS)
    try:
        await connect.choose_tenant(actor, connection_id, tenant_id)
        with session_scope() as session:
            from engine.services.connections import get_connection

            name = get_connection(session, actor, connection_id).name
    except FlowMateError as exc:
        return _refusal(_error_text(exc), _status_for(exc))
    return RedirectResponse(f"/connections?connected={quote(name)}", status_code=303, headers=_HEADERS)


@router.get("/api/v1/oauth/providers", summary="OAuth providers this server can connect", tags=["connections"],
            response_model=dict[str, list[dict[str, Any]]], responses=responses(401))
def providers(actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Each OAuth connection type: configured on this server or not, its scopes, and the callback
    URL to register with the provider's app."""
    return {"items": [{"type": t, **connect.provider_status(t)} for t in all_flows()]}
