"""/api/v1/approvals: pending flow.approval steps, and approving or rejecting them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from engine.db import session_scope
from engine.schemas import ApprovalPublic, Page
from engine.services import approvals as service
from engine.services.actor import Actor
from flowmate_app.api.common import Cursor, Limit
from flowmate_app.api.deps import current_actor
from flowmate_app.api.errors import responses

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"], responses=responses(400, 401, 422))


class Decision(BaseModel):
    comment: str | None = Field(None, max_length=2000)


class PendingCount(BaseModel):
    pending: int


@router.get("", response_model=Page[ApprovalPublic], summary="Approvals waiting for you, newest first")
def list_pending(cursor: str | None = Cursor, limit: int | None = Limit, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return service.list_pending(session, actor, cursor=cursor, limit=limit or 50)


@router.get("/count", response_model=PendingCount, summary="How many approvals wait for you")
def count_pending(actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return {"pending": service.count_pending(session, actor)}


@router.post("/{approval_id}/approve", response_model=ApprovalPublic, responses=responses(403, 404, 409, 422),
             summary="Approve (the run goes on)")
def approve(approval_id: str, body: Decision | None = None, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return service.decide(session, actor, approval_id, approved=True, comment=body.comment if body else None)


@router.post("/{approval_id}/reject", response_model=ApprovalPublic, responses=responses(403, 404, 409, 422),
             summary="Reject (the run fails unless the next step checks the output)")
def reject(approval_id: str, body: Decision | None = None, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return service.decide(session, actor, approval_id, approved=False, comment=body.comment if body else None)
