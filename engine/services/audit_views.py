"""Reading the audit trail for the web app's Audit log page (newest first, keyset pages).

Scoped by the actor's workspace and walked through ``ix_audit_ws_created``. Any member may
read it (viewers included): seeing who changed what is part of "see but not change".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, select

from engine.db import as_aware
from engine.models import AuditLog
from engine.services.actor import Actor
from engine.services.pagination import clamp_limit, decode_cursor, encode_cursor


def audit_public(row: AuditLog) -> dict[str, Any]:
    return {"id": row.id, "actor": row.actor, "action": row.action, "object_type": row.object_type,
            "object_id": row.object_id, "changes": row.changes or {},
            "created_at": as_aware(row.created_at).isoformat()}


def list_audit_entries(
    session: Session, actor: Actor, *, action: str | None = None, object_type: str | None = None,
    who: str | None = None, since: datetime | None = None, cursor: str | None = None, limit: int | None = None,
) -> dict[str, Any]:
    """Audit rows of the workspace. ``action`` matches a prefix ("workflow." for all workflow events)."""
    limit = clamp_limit(limit)
    stmt = select(AuditLog).where(AuditLog.workspace_id == actor.workspace_id)
    if action:
        stmt = stmt.where(AuditLog.action.startswith(action))
    if object_type:
        stmt = stmt.where(AuditLog.object_type == object_type)
    if who:
        stmt = stmt.where(AuditLog.actor.ilike(f"%{who.strip()}%"))
    if since:
        stmt = stmt.where(AuditLog.created_at >= since)
    if cursor:
        at, last_id = decode_cursor(cursor)
        stmt = stmt.where(or_(AuditLog.created_at < at, (AuditLog.created_at == at) & (AuditLog.id < last_id)))
    rows = session.exec(stmt.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(limit + 1)).all()
    items = [audit_public(r) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return {"items": items, "next_cursor": encode_cursor(as_aware(last.created_at), last.id) if last else None}
