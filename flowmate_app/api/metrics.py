"""GET /metrics in the Prometheus text format (see engine.metrics for what is measured).

Metrics describe the business (run counts, queue depth, webhook outcomes), so they are not
public: with FLOWMATE_METRICS_TOKEN set, a scrape must send ``Authorization: Bearer <token>``
(Prometheus: ``authorization: {credentials: ...}``). Without a token, /metrics answers only in
development and test; in production it answers 404 as if it did not exist.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from engine import metrics
from engine.config import get_settings
from engine.liveness import live_workers
from engine.queue import queue_depth
from flowmate_app.api.errors import ApiError, responses

router = APIRouter(tags=["metrics"])
#: Live gauges read from the broker at scrape time (embedded or Redis alike).
_LIVE = metrics.LiveCollector(queue_depth=queue_depth, workers_alive=live_workers)


def _authorised(request: Request) -> None:
    settings = get_settings()
    if settings.metrics_token is None:
        if settings.env == "production":
            raise ApiError(404, "not_found", "metrics are off: set FLOWMATE_METRICS_TOKEN to scrape them")
        return
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected):
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <FLOWMATE_METRICS_TOKEN>'",
                       headers={"WWW-Authenticate": 'Bearer realm="flowmate-metrics"'})


@router.get("/metrics", response_class=Response, summary="Prometheus metrics (FLOWMATE_METRICS_TOKEN)",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **responses(401, 404)})
async def get_metrics(request: Request) -> Response:
    _authorised(request)
    body, content_type = await run_in_threadpool(metrics.render, _LIVE)
    return Response(body, media_type=content_type)
