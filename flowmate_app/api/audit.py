"""/api/v1/audit: the workspace's audit trail with filters (any member, like the Audit log page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import StreamingResponse

from engine.db import session_scope
from engine.services import audit as service
from engine.services import audit_stream
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


EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


@router.get("/export", summary="Download the filtered audit trail as CSV or JSON Lines (oldest first)",
            responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
def export_audit(
    format: str = Query("csv", pattern="^(csv|jsonl)$", description="csv or jsonl"),
    action: str | None = Query(None, max_length=64), object_type: str | None = Query(None, max_length=32),
    object_id: str | None = Query(None, max_length=64),
    actor_label: str | None = Query(None, alias="actor", max_length=200),
    since: datetime | None = None, until: datetime | None = None, actor: Actor = Depends(current_actor),
) -> StreamingResponse:
    filters = {"action": action, "object_type": object_type, "object_id": object_id, "actor_label": actor_label,
               "since": aware(since), "until": aware(until)}

    def chunks() -> Any:
        with session_scope() as session:
            body = service.export_audit(session, actor, format, **filters)
            session.commit()  # the audit.export row stands even if the download is cut short
            yield from body

    stream = chunks()
    first = next(stream, "")  # errors (bad filters) surface before the 200 is sent; "" = no rows (JSON Lines)
    return StreamingResponse(_prepend(first, stream), media_type=EXPORT_TYPES[format],
                             headers={"Content-Disposition": f'attachment; filename="audit.{format}"'})


def _prepend(first: str, rest: Any) -> Any:
    yield first
    yield from rest


@router.get("/verify", summary="Check this workspace's audit hash chain")
def verify_audit(actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return service.verify_workspace(session, actor)


@router.get("/stream", summary="Audit streaming settings and progress (admin)", responses=responses(403))
def get_stream(actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return {"stream": audit_stream.get_stream(session, actor)}


@router.put("/stream", summary="Stream new audit rows to a signed webhook or syslog (owner)",
            responses=responses(403))
def put_stream(body: dict[str, Any] = Body(..., examples=[{"kind": "webhook", "url": "https://siem.example/in"},
                                                           {"kind": "syslog", "host": "logs.example", "port": 6514,
                                                            "protocol": "tcp"}]),
               actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return {"stream": audit_stream.set_stream(session, actor, body)}


@router.delete("/stream", status_code=204, summary="Stop audit streaming (owner)", responses=responses(403, 404))
def delete_stream(actor: Actor = Depends(current_actor)) -> None:
    with session_scope() as session:
        audit_stream.delete_stream(session, actor)
