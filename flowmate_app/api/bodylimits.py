"""Request-body limits for every ``/api/`` route: size (413) and JSON nesting depth (422).

Pure ASGI, in front of FastAPI's body parsing: FastAPI would read a body of any size into memory
and a body nested thousands deep makes its JSON decoder raise RecursionError (a 500). Here the
body is read once up to FLOWMATE_API_MAX_BODY_BYTES (refused from Content-Length, or as soon as
the stream passes it), a JSON body is checked against FLOWMATE_MAX_JSON_DEPTH, and the same
bytes are handed on. Webhooks (``/hooks/``) have their own limit (FLOWMATE_WEBHOOK_MAX_BODY_BYTES).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.config import get_settings
from engine.datalimits import json_depth
from flowmate_app.api.errors import error_json

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _too_large(limit: int) -> tuple[int, str, str, dict[str, str]]:
    return (413, "payload_too_large", f"the request body is larger than {limit} bytes",
            {"body": f"at most {limit} bytes (FLOWMATE_API_MAX_BODY_BYTES)"})


def _too_deep(limit: int) -> tuple[int, str, str, dict[str, str]]:
    return (422, "validation_failed", f"the JSON body is nested more than {limit} levels deep",
            {"body": f"nested more than {limit} levels deep (FLOWMATE_MAX_JSON_DEPTH)"})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _WITH_BODY or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        limit = settings.api_max_body_bytes
        refusal = None
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            refusal = _too_large(limit)
        body = bytearray()
        more = refusal is None
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                refusal = _too_large(limit)
                break
        if refusal is None and b"json" in headers.get(b"content-type", b"") and body:
            try:
                if json_depth(json.loads(body), stop_at=settings.max_json_depth) > settings.max_json_depth:
                    refusal = _too_deep(settings.max_json_depth)
            except RecursionError:
                refusal = _too_deep(settings.max_json_depth)
            except ValueError:
                pass  # not JSON: FastAPI answers the usual 422
        if refusal is not None:
            status, code, message_text, fields = refusal
            await error_json(status, code, message_text, fields)(scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
