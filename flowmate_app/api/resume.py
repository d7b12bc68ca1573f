"""``POST /hooks/resume/{token}``: resume a run waiting in a flow.wait_for_event step.

No login: the unguessable token is the credential (like a webhook's), bound to one run and
step path and usable once. The JSON body (``{}`` when empty) becomes the step's output.

- 200 ``{"resumed": true, "result": <body>}``;
- 409 a second POST (the body names the first result), or the step is not waiting yet;
- 404 an unknown or expired token; 413/422 a body too large, not JSON, or nested too deep.
Answers never mention the run.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from engine.config import get_settings
from engine.datalimits import json_depth
from engine.db import session_scope
from engine.schemas import ResumeAnswer
from engine.services import waits
from flowmate_app.api.errors import ApiError, responses

router = APIRouter(tags=["webhooks"])


@router.post("/hooks/resume/{token}", response_model=ResumeAnswer, responses=responses(400, 404, 409, 413, 422),
             summary="Resume a run waiting for an event (the step's resume URL)")
async def resume(token: str, request: Request) -> Any:
    settings = get_settings()
    body = await request.body()
    if len(body) > settings.webhook_max_body_bytes:
        raise ApiError(413, "payload_too_large", "the body is too large")
    payload: Any = {}
    if body.strip():
        try:
            payload = json.loads(body)
        except ValueError:
            raise ApiError(422, "validation_failed", "the body must be JSON", {"body": "not valid JSON"}) from None
        if json_depth(payload, stop_at=settings.max_json_depth) > settings.max_json_depth:
            raise ApiError(422, "validation_failed", "the body is nested too deeply", {"body": "nested too deeply"})
    try:
        return await run_in_threadpool(_resume, token, payload)
    except waits.AlreadyResumed as exc:
        return JSONResponse({"error": {"code": "conflict", "message": str(exc), "fields": {}},
                             "resumed": False, "result": exc.result}, status_code=409)


def _resume(token: str, payload: Any) -> ResumeAnswer:
    with session_scope() as session:
        return waits.resume(session, token, payload)
