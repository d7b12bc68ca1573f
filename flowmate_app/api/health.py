"""GET /api/health: database, queue and worker liveness; 503 when any of them is down.

Unauthenticated (load balancers and uptime checks call it) and cheap: one ``SELECT 1``, one
broker ping, one look at the worker heartbeats.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from engine.config import get_settings
from engine.db import get_engine
from engine.liveness import live_worker_ids
from engine.queue import queue_depth, setup_broker
from flowmate_app.api.schemas import HealthOut

router = APIRouter(tags=["health"])


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}" if str(exc) else type(exc).__name__


def check() -> dict[str, Any]:
    checks: dict[str, dict[str, Any]] = {}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "detail": _short(exc)}
    settings = get_settings()
    try:
        broker = setup_broker()
        if settings.redis_url:
            broker.client.ping()  # type: ignore[attr-defined]
            checks["queue"] = {"ok": True, "detail": "redis"}
        else:
            checks["queue"] = {"ok": True, "detail": "embedded"}
    except Exception as exc:
        checks["queue"] = {"ok": False, "detail": _short(exc)}
    alive: int | None = None
    workers: list[str] | None = None
    try:
        workers = live_worker_ids()
        alive = len(workers)
        checks["workers"] = {"ok": alive > 0, "detail": f"{alive} alive" if alive else "no worker heartbeat"}
    except Exception as exc:
        checks["workers"] = {"ok": False, "detail": _short(exc)}
    depth = queue_depth() if checks["queue"]["ok"] else None
    ok = all(c["ok"] for c in checks.values())
    return {"status": "ok" if ok else "degraded", "checks": checks, "queue_depth": depth, "workers_alive": alive,
            "workers": workers}


@router.get("/api/health", response_model=HealthOut, responses={503: {"model": HealthOut, "description": "Degraded"}},
            summary="Database, queue and worker liveness")
async def health() -> Any:
    result = await run_in_threadpool(check)
    return JSONResponse(result, status_code=200 if result["status"] == "ok" else 503)
