"""Pure-ASGI middleware for our routes: request ids, security headers, last-resort 500s.

A database or Redis outage that reaches here is not a bug: it answers 503 with Retry-After
(webhook senders and API clients retry; nothing was stored), and logs a warning, not a trace.

Pure ASGI (not BaseHTTPMiddleware) keeps the webhook hot path cheap, and webhook calls go
straight to the intake handler from here (hooks.serve_direct). FlowMate's own paths (/api,
/auth, /hooks, /metrics) get the API headers; every other HTTP answer (the app's pages and
assets, served by this same process in production) gets the anti-framing headers, so no other
site can frame the app (clickjacking). Websocket traffic passes through untouched.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.db import is_outage
from flowmate_app.api import hooks
from flowmate_app.api.access_log import redact_path

log = structlog.get_logger("flowmate.api")

OUR_PREFIXES = ("/api/", "/auth/", "/hooks/", "/metrics")
RETRY_AFTER_OUTAGE_S = 5

_RID_OK = re.compile(r"^[A-Za-z0-9._-]{8,128}$")

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
#: JSON answers never need to run scripts or be framed; the Swagger UI page does run scripts.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
NO_STORE = (b"cache-control", b"no-store")
#: Pages run the app's scripts, so their CSP only forbids framing (X-Frame-Options for old browsers).
PAGE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


def _is_ours(path: str) -> bool:
    return path.startswith(OUR_PREFIXES) or path == "/api"


class ApiMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not _is_ours(scope.get("path", "")):
            await self.app(scope, receive, _with_page_headers(send))
            return
        rid = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                rid = candidate if _RID_OK.match(candidate) else None
                break
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        path = scope["path"]
        docs = path.startswith("/api/docs")
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                present = {k.lower() for k, _ in headers}
                extra = [h for h in SECURITY_HEADERS if h[0] not in present]
                if not docs:
                    extra += [h for h in (API_CSP, NO_STORE) if h[0] not in present]
                extra.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers + extra}
            await send(message)

        try:
            token = hooks.direct_token(scope) if path.startswith(hooks.HOOK_PREFIX) else None
            if token is not None:
                await hooks.serve_direct(token, scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            outage = is_outage(exc)
            if outage:
                log.warning("api.dependency_unavailable", request_id=rid, method=scope.get("method"),
                            path=redact_path(path), error=type(exc).__name__)
            else:
                log.exception("api.unhandled_error", request_id=rid, method=scope.get("method"),
                              path=redact_path(path))
            if started:
                raise
            if outage:
                status, error = 503, {"code": "unavailable", "message": "the database or queue is unreachable "
                                      "for a moment; nothing was stored, retry shortly", "fields": {},
                                      "request_id": rid}
            else:
                status, error = 500, {"code": "internal_error", "message": "an unexpected error occurred; "
                                      "quote the request id when reporting it", "fields": {}, "request_id": rid}
            body = json.dumps({"error": error}).encode()
            headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                  *SECURITY_HEADERS, API_CSP, NO_STORE, (b"x-request-id", rid.encode())]
            if outage:
                headers.append((b"retry-after", str(RETRY_AFTER_OUTAGE_S).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})


def _with_page_headers(send: Send) -> Send:
    async def send_page(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {k.lower() for k, _ in headers}
            message = {**message, "headers": headers + [h for h in PAGE_HEADERS if h[0] not in present]}
        await send(message)

    return send_page
