"""Webhook intake: ``POST /hooks/{token}`` (GET/PUT when the trigger allows them).

The hot path only: per-token rate limit, body read with a hard size cap, trigger lookup,
caller authentication, one run row written and committed, one queue message. Everything else
(rendering, steps, retries) happens in the workers. Answers:

- 202 ``{"run_id"}`` accepted; 200 with the first run id when an ``Idempotency-Key`` is replayed
  with the same body; 409 when it comes back with a different body (keys are kept 24 h);
- 401 failed authentication (header token, HTTP Basic, or HMAC-SHA256 of ``"<t>.<body>"`` in
  ``X-FlowMate-Signature: t=<unix>,v1=<hex>`` within 5 minutes, each signature usable once; or a
  provider's signature: Stripe, Shopify, Xero, Standard Webhooks);
- provider-signed webhooks: 200 ``{"ignored": true, "reason"}`` for an event the trigger's filter
  does not select (no run), 200 with the first run's id for a redelivered delivery id; Xero gets
  every answer with an empty body, as it requires (its intent-to-receive check starts no run);
- 404 unknown token or disabled workflow; 405 method not enabled for this trigger;
- 413 body over FLOWMATE_WEBHOOK_MAX_BODY_BYTES (refused from Content-Length, or as soon as the
  streamed body passes the limit: never buffered whole);
- 422 a JSON body nested deeper than FLOWMATE_MAX_JSON_DEPTH;
- 429 per-token rate limit (with Retry-After) or the workspace's monthly quota.

Redis is not needed to accept: the rate limit falls back to per-process counters, replay markers
live in the database, and a run whose queue message could not be sent is enqueued by the
sweeper once Redis is back (the run row is committed first).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import Receive, Scope, Send

from engine import metrics, tracing
from engine.config import get_settings
from engine.crypto import decrypt_json
from engine.datalimits import json_depth
from engine.errors import Conflict, NotFound, QuotaExceeded
from engine.ratelimit import webhook_limiter
from engine.registry import AuthFailed, IncomingRequest, get_trigger
from engine.services.runs import create_webhook_run, find_webhook
from engine.triggers.webhook import build_payload
from engine.triggers.webhook_providers import QuietAuthFailed
from flowmate_app.api.errors import ApiError, ErrorBody, expected_error_response
from flowmate_app.api.schemas import HookAccepted

router = APIRouter(tags=["webhooks"])

HOOK_PREFIX = "/hooks/"
HOOK_METHODS = ("POST", "GET", "PUT")

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_IDEMPOTENCY_KEY = 200

_NOT_FOUND = ApiError(404, "not_found", "no enabled webhook at this address")
#: The trigger type whose endpoint this router serves; it authenticates callers.
WEBHOOK = get_trigger("webhook")


@dataclass
class Answer:
    """What the intake answers: status, JSON body (None: an empty body, as Xero requires), outcome."""

    status: int
    body: dict[str, Any] | None
    outcome: str


@dataclass
class Incoming:
    token: str
    method: str
    headers: Headers
    query: dict[str, Any]
    body: bytes
    parsed_body: Any = None  # multipart forms are parsed in the event loop


def _auth_failed(message: str, basic: bool = False) -> ApiError:
    headers = {"WWW-Authenticate": 'Basic realm="flowmate-webhook"'} if basic else None
    return ApiError(401, "unauthorized", message, headers=headers)


_secret_cache: dict[str, dict[str, Any]] = {}


def _secret(encrypted: str | None) -> dict[str, Any]:
    """Decrypted trigger secret, memoised by ciphertext (a new secret is a new ciphertext)."""
    if not encrypted:
        return {}
    found = _secret_cache.get(encrypted)
    if found is None:
        found = decrypt_json(encrypted)
        if len(_secret_cache) > 10_000:
            _secret_cache.clear()
        _secret_cache[encrypted] = found
    return found


def accept(inc: Incoming) -> Answer:
    """Everything after the body is read (runs in a worker thread): what to answer.

    With tracing on, the intake is the ``flowmate.webhook`` span: a child of the sender's W3C
    ``traceparent`` when it sent one, and the parent the new run stores (engine/tracing.py)."""
    with tracing.span("flowmate.webhook", parent=inc.headers.get("traceparent"), kind="server") as current:
        answer = _accept(inc)
        run_id = (answer.body or {}).get("run_id")
        if current is not None and run_id:
            current.set_attribute("flowmate.run_id", run_id)
        return answer


def _accept(inc: Incoming) -> Answer:
    decision = webhook_limiter().hit("hook:" + inc.token)
    if not decision.allowed:
        raise ApiError(429, "rate_limited", "too many requests for this webhook; slow down",
                       headers={"Retry-After": str(decision.retry_after)})
    hook = find_webhook(inc.token)
    if hook is None or not hook["enabled"]:
        raise _NOT_FOUND
    config = dict(hook["config"] or {})
    methods = config.get("methods") or ["POST"]
    if inc.method not in methods:
        raise ApiError(405, "method_not_allowed", f"this webhook accepts {', '.join(methods)}",
                       headers={"Allow": ", ".join(methods)})
    secret = _secret(hook["secret_encrypted"])
    try:
        hidden, delivery = WEBHOOK.screen(config, secret, IncomingRequest(inc.method, inc.headers, inc.body))
    except QuietAuthFailed:
        return Answer(401, None, "unauthorized")
    except AuthFailed as failed:
        raise _auth_failed(failed.message, basic=failed.basic) from None
    if delivery is not None and (delivery.handshake or not delivery.selected):
        if delivery.quiet:
            return Answer(200, None, "handshake" if delivery.handshake else "ignored")
        shown = ", ".join(delivery.events) or "no event type"
        return Answer(200, {"ignored": True, "reason": f"event {shown} is not selected by this trigger"}, "ignored")

    key = inc.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY):
        raise ApiError(422, "validation_failed", "invalid Idempotency-Key",
                       {"Idempotency-Key": f"1 to {MAX_IDEMPOTENCY_KEY} characters"})
    headers = {k: v for k, v in inc.headers.items() if k not in hidden}
    depth = get_settings().max_json_depth
    try:
        payload = build_payload(inc.method, headers, inc.query, inc.body, inc.headers.get("content-type"))
    except RecursionError:
        raise _too_deep(depth) from None
    if inc.parsed_body is not None:
        payload["body"] = inc.parsed_body
    if json_depth(payload.get("body"), stop_at=depth) > depth:
        raise _too_deep(depth)
    body_hash = hashlib.sha256(inc.body).hexdigest() if key else None
    run_key = f"hook:{key}" if key else None
    if delivery is not None:
        payload["delivery"] = delivery.info
        if delivery.dedupe_key:  # a provider redelivery answers the first run's id, whatever its body
            run_key, body_hash = delivery.dedupe_key, None
    try:
        run_id, created = create_webhook_run(hook, payload, idempotency_key=run_key, body_hash=body_hash)
    except NotFound:
        raise _NOT_FOUND from None
    outcome = "accepted" if created else "replayed"
    if delivery is not None and delivery.quiet:
        return Answer(200, None, outcome)
    return Answer(202 if created else 200, {"run_id": run_id}, outcome)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise ApiError(400, "bad_request", "invalid Content-Length") from None
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise _too_large(limit)
    return bytes(chunks)


def _too_deep(limit: int) -> ApiError:
    return ApiError(422, "validation_failed", f"the body is nested more than {limit} levels deep",
                    {"body": f"nested more than {limit} levels deep (FLOWMATE_MAX_JSON_DEPTH)"})


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")


async def _parse_multipart(headers: Headers, body: bytes) -> dict[str, Any]:
    async def stream() -> Any:
        yield body

    try:
        form = await MultiPartParser(headers, stream()).parse()
    except MultiPartException as exc:
        raise ApiError(400, "bad_request", f"invalid multipart body: {exc.message}") from None
    out: dict[str, Any] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):  # an uploaded file: describe it, do not store it in the run
            value = {"filename": value.filename, "content_type": value.content_type, "size": value.size}
        if key in out:
            out[key] = [*out[key], value] if isinstance(out[key], list) else [out[key], value]
        else:
            out[key] = value
    await form.close()
    return out


_intake_pool: ThreadPoolExecutor | None = None


def _in_intake_thread(fn: Callable[[Incoming], Answer], inc: Incoming) -> Awaitable[Answer]:
    """Run the blocking part of the intake on a small dedicated pool.

    Why not the framework's shared pool (up to 40 threads): with one thread per in-flight
    request, the threads spend more CPU handing the GIL to one another than on the work itself
    (measured: ~70 % of a web process's CPU in pool threads). A few threads keep the database
    and Redis round trips overlapped; requests beyond that wait in the pool's queue, not in the
    scheduler.
    """
    global _intake_pool
    if _intake_pool is None:
        _intake_pool = ThreadPoolExecutor(max_workers=get_settings().webhook_intake_threads,
                                          thread_name_prefix="flowmate-intake")
    return asyncio.get_running_loop().run_in_executor(_intake_pool, fn, inc)


_OUTCOMES = {"rate_limited": "rate_limited", "not_found": "not_found", "unauthorized": "unauthorized",
             "payload_too_large": "too_large", "method_not_allowed": "method_not_allowed"}


class HookIgnored(BaseModel):
    """A provider-signed delivery whose event the trigger's filter does not select: no run."""

    ignored: bool = True
    reason: str


_DOC = {
    202: {"description": "Accepted: a run was queued"},
    200: {"model": HookAccepted | HookIgnored,
          "description": "Idempotency-Key replay or a provider redelivery: the first run's id; or an event "
                         "the trigger's filter does not select (ignored, no run). Xero: an empty body."},
    **{s: {"model": ErrorBody} for s in (400, 401, 404, 405, 409, 413, 422, 429)},
}


async def hook(token: str, request: Request) -> Response:
    started = time.perf_counter()
    outcome = "error"
    try:
        if not TOKEN_RE.match(token):
            raise _NOT_FOUND
        body = await _read_body(request, get_settings().webhook_max_body_bytes)
        inc = Incoming(token=token, method=request.method, headers=request.headers,
                       query=dict(request.query_params), body=body)
        if request.headers.get("content-type", "").lower().startswith("multipart/form-data") and body:
            inc.parsed_body = await _parse_multipart(request.headers, body)
        answer = await _in_intake_thread(accept, inc)
        outcome = answer.outcome
        if answer.body is None:
            return Response(status_code=answer.status)
        return JSONResponse(answer.body, status_code=answer.status)
    except ApiError as exc:
        outcome = _OUTCOMES.get(exc.code, exc.code)
        raise
    except Conflict:
        outcome = "conflict"
        raise
    except QuotaExceeded:
        outcome = "quota_exceeded"
        raise
    finally:
        metrics.safe_inc(metrics.WEBHOOK_REQUESTS, outcome=outcome)
        with contextlib.suppress(Exception):
            metrics.WEBHOOK_LATENCY.observe(time.perf_counter() - started)


for _method in HOOK_METHODS:
    router.add_api_route(
        "/hooks/{token}", hook, methods=[_method], status_code=202, response_model=HookAccepted, responses=_DOC,
        operation_id=f"webhook_{_method.lower()}", summary=f"Webhook intake ({_method}): start a run",
        description="Only the methods listed in the trigger's `methods` are accepted (POST by default).",
    )


def direct_token(scope: Scope) -> str | None:
    """The token when this request may take the fast lane: a webhook call with a well-formed
    token and no ``Origin`` header. Browser (CORS) calls and anything odd take the routed path."""
    if scope.get("method") not in HOOK_METHODS:
        return None
    token = scope["path"][len(HOOK_PREFIX):]
    if not TOKEN_RE.match(token):
        return None
    if any(name == b"origin" for name, _ in scope.get("headers", ())):
        return None
    return token


async def serve_direct(token: str, scope: Scope, receive: Receive, send: Send) -> None:
    """The webhook fast lane: the same :func:`hook` handler and error mapping, called straight
    from the API middleware instead of through FastAPI's routing, dependency and middleware
    layers, which cost about as much CPU as the intake itself (measured in bench/webhook_load).
    The routed ``/hooks/{token}`` stays for CORS calls and documents the endpoint in OpenAPI."""
    try:
        response = await hook(token, Request(scope, receive))
    except Exception as exc:
        response = expected_error_response(exc, scope.get("state", {}).get("request_id"), scope["path"])
        if response is None:
            raise  # the API middleware answers a 500 with the request id
    await response(scope, receive, send)
