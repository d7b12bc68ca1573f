"""Liveness endpoint. Placeholder: the real check (database, queue, workers) replaces it."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/api/health")
async def health() -> dict[str, str]:
    """Answer as long as the process serves requests."""
    return {"status": "ok"}
