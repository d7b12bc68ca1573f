"""/api/v1/runs: list with filters and cursor, get (with steps), cancel, re-run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from engine.db import session_scope
from engine.services import runs as service
from engine.services.actor import Actor
from flowmate_app.api.common import Cursor, Limit, aware
from flowmate_app.api.deps import current_actor
from flowmate_app.api.errors import responses
from flowmate_app.api.schemas import RunList, RunOut

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], responses=responses(400, 401, 422))


@router.get("", response_model=RunList, summary="List runs, newest first")
def list_runs(
    workflow_id: str | None = Query(None, max_length=64),
    status: str | None = Query(None, max_length=100, description="One status or several, comma-separated"),
    since: datetime | None = Query(None, description="Created at or after (ISO 8601; UTC if no zone)"),
    until: datetime | None = Query(None, description="Created before"),
    cursor: str | None = Cursor, limit: int | None = Limit, actor: Actor = Depends(current_actor),
) -> Any:
    with session_scope() as session:
        return service.list_runs(session, actor, workflow_id=workflow_id, status=status, since=aware(since),
                                 until=aware(until), cursor=cursor, limit=limit)


@router.get("/{run_id}", response_model=RunOut, responses=responses(404), summary="Get a run with its steps")
def get_run(run_id: str, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return service.run_public(session, service.get_run(session, actor, run_id))


@router.post("/{run_id}/cancel", response_model=RunOut, responses=responses(403, 404, 409),
             summary="Cancel a queued, running or waiting run")
def cancel_run(run_id: str, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return service.run_public(session, service.cancel_run(session, actor, run_id))


@router.post("/{run_id}/rerun", status_code=202, response_model=RunOut, responses=responses(403, 404, 429),
             summary="Start a new run with the same trigger payload")
def rerun(run_id: str, actor: Actor = Depends(current_actor)) -> Any:
    run = service.rerun(actor, run_id)
    with session_scope() as session:
        return service.run_public(session, service.get_run(session, actor, run.id))


@router.get("/{run_id}/resume_url", responses=responses(404), summary="The resume URL of a waiting event step")
def resume_url(run_id: str, path: str = Query(..., max_length=512, description="The step's path"),
               actor: Actor = Depends(current_actor)) -> Any:
    from engine.services import waits

    with session_scope() as session:
        return {"path": path, "resume_url": waits.resume_url(session, actor, run_id, path)}
