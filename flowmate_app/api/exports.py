"""Data governance routes: exports, data-subject erasure, retention, residency, deletion.

- ``POST /api/v1/exports`` queues an export (202), ``GET /api/v1/exports/{id}`` shows its progress,
  ``GET /api/v1/exports/{id}/download`` streams the ZIP for 24 hours, to the requester only
  (anyone else, in any workspace: 404);
- ``POST /api/v1/data/erasure/preview`` counts, ``POST /api/v1/data/erasure`` redacts;
- ``GET /api/v1/data/retention`` shows what the next pass prunes and when it last ran;
- ``GET /api/v1/data/cross-border`` lists flows that send data outside the workspace's region;
- ``POST /api/v1/data/workspace/delete`` deletes the workspace (owner, its name to confirm);
- ``POST /api/v1/data/account/delete`` deletes the signed-in person's account (password).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from engine.db import session_scope
from engine.errors import ValidationFailed
from engine.services import deletion, erasure, exports, residency, retention
from engine.services.actor import Actor
from flowmate_app.api.deps import current_actor
from flowmate_app.api.errors import responses

router = APIRouter(tags=["data"], responses=responses(400, 401, 422))


class DataExportIn(BaseModel):
    scope: Literal["workspace", "user"] = Field("workspace", description="`workspace` (admin or owner) or "
                                                "`user`: your own data (needs a signed-in person, not a token)")


class DataExportProgress(BaseModel):
    done: int
    total: int
    percent: int


class DataExportOut(BaseModel):
    id: str
    scope: str
    status: str = Field(description="queued, running, succeeded, failed or expired")
    progress: DataExportProgress
    requested_by: str
    storage: str
    storage_region: str | None
    size_bytes: int | None
    sha256: str | None
    error: str | None
    created_at: str
    finished_at: str | None
    expires_at: str | None
    download_url: str | None = Field(description="Valid until expires_at, for the requester only")


class DataExportList(BaseModel):
    items: list[DataExportOut]


class SubjectIn(BaseModel):
    subject: str = Field(min_length=1, max_length=320, description="An email address or a phone number in any "
                         "format (Australian numbering unless it starts with +)", examples=["jo@example.com"])


class SubjectCount(BaseModel):
    kind: str = Field(description="email or phone")
    runs: int = Field(description="Runs that mention the subject")
    values: int = Field(description="Values that were (or would be) replaced with [erased]")


class CrossBorderFlow(BaseModel):
    workflow_id: str
    workflow_name: str
    step_key: str
    action: str
    connection: str
    connection_type: str
    location: str
    location_name: str
    notice: str


class CrossBorderList(BaseModel):
    workspace_region: str
    items: list[CrossBorderFlow]


class ConfirmNameIn(BaseModel):
    confirm_name: str = Field(min_length=1, max_length=200, description="The workspace's name, exactly")


class PasswordIn(BaseModel):
    password: str = Field(min_length=1, max_length=1000)


@router.post("/api/v1/exports", status_code=202, response_model=DataExportOut, responses=responses(403, 404),
             summary="Queue an export ZIP of the workspace or of your own data")
def create_export(body: DataExportIn, response: Response, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        out = exports.export_public(exports.create_export(session, actor, body.scope))
    response.headers["Location"] = f"/api/v1/exports/{out['id']}"
    return out


@router.get("/api/v1/exports", response_model=DataExportList, summary="Your exports in this workspace, newest first")
def list_exports(actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return {"items": exports.list_exports(session, actor)}


@router.get("/api/v1/exports/{export_id}", response_model=DataExportOut, responses=responses(404),
            summary="Progress of one of your exports")
def get_export(export_id: str, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return exports.export_public(exports.get_export(session, actor, export_id))


@router.get("/api/v1/exports/{export_id}/download", responses={**responses(404), 200: {
    "content": {"application/zip": {}}, "description": "The export ZIP"}}, response_class=StreamingResponse,
    summary="Download one of your finished exports (for 24 hours)")
def download_export(export_id: str, actor: Actor = Depends(current_actor)) -> StreamingResponse:
    with session_scope() as session:
        name, size, chunks = exports.open_download(session, actor, export_id)
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(chunks, media_type="application/zip", headers=headers)


@router.post("/api/v1/data/erasure/preview", response_model=SubjectCount, responses=responses(403),
             summary="Count the runs that mention an email address or phone number (changes nothing)")
def erasure_preview(body: SubjectIn, actor: Actor = Depends(current_actor)) -> Any:
    return erasure.find_subject(actor, body.subject)


@router.post("/api/v1/data/erasure", response_model=SubjectCount, responses=responses(403),
             summary="Erase an email address or phone number from every run of the workspace")
def erase(body: SubjectIn, actor: Actor = Depends(current_actor)) -> Any:
    return erasure.erase_subject(actor, body.subject)


@router.get("/api/v1/data/retention", response_model=dict[str, Any],
            summary="What the next retention pass will delete, and when it last ran")
def retention_preview(actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return retention.preview(session, actor)


@router.get("/api/v1/data/cross-border", response_model=CrossBorderList,
            summary="Steps that send data to a provider outside the workspace's region (APP 8)")
def cross_border(actor: Actor = Depends(current_actor)) -> Any:
    from engine.services.workspaces import get_workspace

    with session_scope() as session:
        ws = get_workspace(session, actor)
        return {"workspace_region": ws.data_region, "items": residency.cross_border_flows(session, actor)}


@router.post("/api/v1/data/workspace/delete", response_model=dict[str, Any], responses=responses(403, 404),
             summary="Delete this workspace and everything it owns (owner; its name to confirm)")
def delete_workspace(body: ConfirmNameIn, actor: Actor = Depends(current_actor)) -> Any:
    return {"deleted": deletion.delete_workspace(actor, body.confirm_name)}


@router.post("/api/v1/data/account/delete", response_model=dict[str, Any], responses=responses(403),
             summary="Delete your own account (signed-in people only; re-enter your password)")
def delete_account(body: PasswordIn, actor: Actor = Depends(current_actor)) -> Any:
    if actor.user_id is None:
        raise ValidationFailed("an API token has no account to delete", {"password": "sign in to delete your account"})
    with session_scope() as session:
        return deletion.delete_account(session, actor.user_id, body.password)
