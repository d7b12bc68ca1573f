"""What the web app's notification bell shows: what happened since the member last looked.

Two kinds, both scoped by the actor's workspace: runs that FAILED (finished) after ``since``,
and pending approvals this actor may decide that were created after ``since``. "Since" is the
member's last "Mark all as seen" (kept by the web app, see flowmate_app/features/notifications);
with none yet, the last ``DEFAULT_DAYS`` days count, so a first visit is not a flood of history.
Read-only; the failed-run query walks ``ix_run_ws_finished (workspace_id, finished_at)``.
Only what the run page already shows leaves here: workflow name, time, the run's error summary.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from engine.db import as_aware, utcnow
from engine.models import Approval, ApprovalStatus, Role, Run, RunStatus, Workflow
from engine.services.actor import Actor
from engine.services.approvals import _may_decide, _roles_at_most

DEFAULT_DAYS = 7
LIMIT = 10
ERROR_CHARS = 200


def _approvals_stmt(actor: Actor, since: datetime) -> Any:
    return (Approval.workspace_id == actor.workspace_id, Approval.status == ApprovalStatus.pending.value,
            Approval.approver_role.in_(_roles_at_most(Role(actor.role))), Approval.created_at > since)


def unseen(session: Session, actor: Actor, since: datetime | None, *, now: datetime | None = None,
           limit: int = LIMIT) -> dict[str, Any]:
    """``{"count", "items"}``: how many notifications are new since ``since`` and the newest
    ``limit`` of them (each ``kind`` "run_failed" or "approval", ``at`` ISO time, ``href``)."""
    since = as_aware(since) or (now or utcnow()) - timedelta(days=DEFAULT_DAYS)
    failed_where = (Run.workspace_id == actor.workspace_id, Run.finished_at > since,
                    Run.status == RunStatus.failed.value)
    failed_n = session.exec(select(func.count()).select_from(Run).where(*failed_where)).one()
    runs = session.exec(select(Run).where(*failed_where)
                        .order_by(Run.finished_at.desc(), Run.id.desc()).limit(limit)).all()
    names: dict[str, str] = {}
    if runs:
        names = dict(session.exec(select(Workflow.id, Workflow.name).where(
            Workflow.workspace_id == actor.workspace_id, Workflow.id.in_({r.workflow_id for r in runs}))).all())
    items = [{"kind": "run_failed", "id": r.id, "at": as_aware(r.finished_at).isoformat(),
              "title": names.get(r.workflow_id) or (r.definition or {}).get("name") or "Untitled workflow",
              "detail": (r.error or "No error message")[:ERROR_CHARS], "href": f"/runs/{r.id}"} for r in runs]
    approvals_n = 0
    if _may_decide(actor, Role.editor.value):  # a viewer decides nothing, so is told of nothing
        where = _approvals_stmt(actor, since)
        approvals_n = session.exec(select(func.count()).select_from(Approval).where(*where)).one()
        rows = session.exec(select(Approval).where(*where)
                            .order_by(Approval.created_at.desc(), Approval.id.desc()).limit(limit)).all()
        items += [{"kind": "approval", "id": a.id, "at": as_aware(a.created_at).isoformat(),
                   "title": "Approval needed", "detail": a.message[:ERROR_CHARS], "href": "/approvals"}
                  for a in rows]
    items.sort(key=lambda i: i["at"], reverse=True)
    return {"count": int(failed_n) + int(approvals_n), "items": items[:limit]}
