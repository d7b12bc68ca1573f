"""/api/v1/workflows: list (search, cursor), create from a definition, get, update (bumps the
version), delete, enable/disable, export, and start a manual run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from engine.db import session_scope
from engine.services import runs as run_service
from engine.services import workflows as service
from engine.services.actor import Actor
from flowmate_app.api.common import Cursor, Limit
from flowmate_app.api.deps import current_actor
from flowmate_app.api.errors import responses
from flowmate_app.api.schemas import ExportOut, ManualRunIn, RunOut, WorkflowIn, WorkflowList, WorkflowOut

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"], responses=responses(400, 401, 422))


def _definition(body: WorkflowIn) -> dict[str, Any]:
    return body.model_dump(mode="json")


@router.get("", response_model=WorkflowList, summary="List workflows")
def list_workflows(
    search: str | None = Query(None, max_length=200, description="Words in the name or description"),
    cursor: str | None = Cursor, limit: int | None = Limit, actor: Actor = Depends(current_actor),
) -> Any:
    with session_scope() as session:
        return service.list_workflows(session, actor, search=search, cursor=cursor, limit=limit)


@router.post("", status_code=201, response_model=WorkflowOut, responses=responses(403), summary="Create a workflow")
def create_workflow(body: WorkflowIn, response: Response, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        wf = service.create_workflow(session, actor, _definition(body))
        out = service.workflow_public(session, wf)
    response.headers["Location"] = f"/api/v1/workflows/{out['id']}"
    return out


@router.get("/{workflow_id}", response_model=WorkflowOut, responses=responses(404), summary="Get a workflow")
def get_workflow(workflow_id: str, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return service.workflow_public(session, service.get_workflow(session, actor, workflow_id))


@router.put("/{workflow_id}", response_model=WorkflowOut, responses=responses(403, 404),
            summary="Replace a workflow's definition (bumps its version)")
def update_workflow(
    workflow_id: str, body: WorkflowIn,
    expected_version: int | None = Query(None, ge=1, description="Refuse the update unless this is the version"),
    actor: Actor = Depends(current_actor),
) -> Any:
    with session_scope() as session:
        wf = service.update_workflow(session, actor, workflow_id, _definition(body), expected_version=expected_version)
        return service.workflow_public(session, wf)


@router.delete("/{workflow_id}", status_code=204, responses=responses(403, 404),
               summary="Delete a workflow and its run history")
def delete_workflow(workflow_id: str, actor: Actor = Depends(current_actor)) -> Response:
    with session_scope() as session:
        service.delete_workflow(session, actor, workflow_id)
    return Response(status_code=204)


def _set_enabled(workflow_id: str, actor: Actor, enabled: bool) -> dict[str, Any]:
    with session_scope() as session:
        return service.workflow_public(session, service.set_enabled(session, actor, workflow_id, enabled))


@router.post("/{workflow_id}/enable", response_model=WorkflowOut, responses=responses(403, 404),
             summary="Enable a workflow")
def enable_workflow(workflow_id: str, actor: Actor = Depends(current_actor)) -> Any:
    return _set_enabled(workflow_id, actor, True)


@router.post("/{workflow_id}/disable", response_model=WorkflowOut, responses=responses(403, 404),
             summary="Disable a workflow (its webhook answers 404, its schedule stops)")
def disable_workflow(workflow_id: str, actor: Actor = Depends(current_actor)) -> Any:
    return _set_enabled(workflow_id, actor, False)


@router.get("/{workflow_id}/export", response_model=ExportOut, responses=responses(404),
            summary="Export the definition (no secrets)")
def export_workflow(workflow_id: str, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return service.export_definition(session, actor, workflow_id)


@router.post("/{workflow_id}/runs", status_code=202, response_model=RunOut, responses=responses(403, 404, 429),
             summary="Start a manual run with a payload")
def start_run(workflow_id: str, body: ManualRunIn | None = None, actor: Actor = Depends(current_actor)) -> Any:
    run = run_service.start_manual_run(actor, workflow_id, body.payload if body else {})
    with session_scope() as session:
        return run_service.run_public(session, run_service.get_run(session, actor, run.id))
