"""FastAPI app with FlowMate's REST routes, mounted in front of Reflex via ``api_transformer``.

Each feature contributes one ``APIRouter``; add it to ``ROUTERS`` below. Paths are absolute
(``/api/...``, ``/hooks/...``) so a router file says exactly what it serves. In dev these routes
answer on the backend port (8000); in prod on the single app port (3000).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from flowmate_app.api import health

ROUTERS: list[APIRouter] = [health.router]


def build_api() -> FastAPI:
    """Build the FastAPI app that Reflex mounts its own routes (/_event, /ping, ...) under."""
    api = FastAPI(
        title="FlowMate API",
        version="0.1.0",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    for router in ROUTERS:
        api.include_router(router)
    return api
