"""/api/v1/audit: the workspace's audit trail with filters (any member, like the Audit log page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from engine.db import session_scope
from engine.services import audit as service
from engine.services.actor import Actor
from flowmate_app.api.common import Cursor, Limit, aware
from flowmate_app.api.deps import current_actor
from flowmate_app.api.errors import responses
from flowmate_app.api.schemas import AuditList

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=responses(400, 401, 422))


@router.get("", response_model=AuditList, summary="List audit entries, newest first")
def list_audit(
    action: str | None = Query(None, max_length=64, description="Exact action, or a prefix ending in '.' or '*'"),
    object_type: str | None = Query(None, max_length=32), object_id: str | None = Query(None, max_length=64),
    actor_label: str | None = Query(None, alias="actor", max_length=200, description="Part of the actor label"),
    since: datetime | None = None, until: datetime | None = None,
    cursor: str | None = Cursor, limit: int | None = Limit, actor: Actor = Depends(current_actor),
) -> Any:
    with session_scope() as session:
        return service.list_audit(session, actor, action=action, object_type=object_type, object_id=object_id,
                                  actor_label=actor_label, since=aware(since), until=aware(until), cursor=cursor,
                                  limit=limit)
