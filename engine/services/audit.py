"""Audit trail: one AuditLog row per mutation, written in the mutation's own transaction."""

from __future__ import annotations

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
