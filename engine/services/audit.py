"""Audit trail: one AuditLog row per mutation, written in the mutation's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from engine.models import AuditLog
from engine.redaction import redact
from engine.services.actor import Actor


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Add an audit row to ``session`` (committed with the change it describes).

    ``changes`` is redacted: secrets never reach the audit log even if a caller passes them.
    """
    session.add(
        AuditLog(
            workspace_id=actor.workspace_id,
            actor=actor.label,
            action=action,
            object_type=object_type,
            object_id=object_id,
            changes=redact(changes or {}),
        )
    )


def audit_public(row: AuditLog) -> dict[str, Any]:
    from engine.db import as_aware

    return {"id": row.id, "actor": row.actor, "action": row.action, "object_type": row.object_type,
            "object_id": row.object_id, "changes": row.changes or {},
            "created_at": as_aware(row.created_at).isoformat()}


def list_audit(
    session: Session, actor: Actor, *, action: str | None = None, object_type: str | None = None,
    object_id: str | None = None, actor_label: str | None = None, since: datetime | None = None,
    until: datetime | None = None, cursor: str | None = None, limit: int | None = None,
) -> dict[str, Any]:
    """The workspace's audit trail, newest first, keyset-paginated; any member may read it.

    ``action`` matches exactly (``workflow.update``) or by prefix when it ends with a dot or
    ``*`` (``workflow.`` / ``workflow.*``); ``actor_label`` is a case-insensitive substring match.
    """
    from sqlmodel import select

    from engine.services.pagination import keyset_page

    stmt = select(AuditLog).where(AuditLog.workspace_id == actor.workspace_id)
    if action:
        prefix = action.rstrip("*")
        stmt = stmt.where(AuditLog.action.startswith(prefix) if prefix != action or action.endswith(".")
                          else AuditLog.action == action)
    if object_type:
        stmt = stmt.where(AuditLog.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditLog.object_id == object_id)
    if actor_label:
        stmt = stmt.where(AuditLog.actor.ilike(f"%{actor_label.strip()}%"))
    if since:
        stmt = stmt.where(AuditLog.created_at >= since)
    if until:
        stmt = stmt.where(AuditLog.created_at < until)
    return keyset_page(session, stmt, AuditLog, cursor=cursor, limit=limit, public=audit_public)
