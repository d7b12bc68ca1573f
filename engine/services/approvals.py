"""Approvals: flow.approval steps waiting for a person, and their decisions.

The executor creates the row when the step starts waiting (``create``) and parks the run until
the step's deadline. A member whose role is at least the step's ``approver_role`` approves or
rejects with a comment (``decide``): the row records who and when, an audit row is written in
the same transaction, and the run is woken; the step's output becomes
``{"approved", "by", "comment", "at"}``. Viewers never decide, whatever the step says.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from engine.db import as_aware, utcnow
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.models import Approval, ApprovalStatus, Role, Run, User, new_id
from engine.schemas import ApprovalPublic, Page
from engine.services import audit
from engine.services.actor import Actor
from engine.services.pagination import keyset_page
from engine.services.wakeups import wake

approvals_t = Approval.__table__
MAX_COMMENT = 2000


def _iso(value: datetime | None) -> str | None:
    value = as_aware(value)
    return value.isoformat() if value else None


def _roles_at_most(role: Role) -> list[str]:
    return [r.value for r in Role if r.rank <= role.rank]


def _public(row: Approval, actor: Actor, names: dict[str, tuple[str, str]] | None = None) -> ApprovalPublic:
    workflow_id, workflow_name = (names or {}).get(row.run_id, (None, None))
    return ApprovalPublic(
        id=row.id, run_id=row.run_id, workflow_id=workflow_id, workflow_name=workflow_name, step_path=row.step_path,
        message=row.message, approver_role=row.approver_role, status=row.status, decided_by=row.decided_by,
        comment=row.comment, created_at=_iso(row.created_at), decided_at=_iso(row.decided_at),
        expires_at=_iso(row.expires_at),
        can_decide=row.status == ApprovalStatus.pending.value and _may_decide(actor, row.approver_role),
    )


def _may_decide(actor: Actor, approver_role: str) -> bool:
    role = Role(actor.role)
    return role.rank >= max(Role(approver_role).rank, Role.editor.rank)


def _run_names(session: Session, run_ids: list[str]) -> dict[str, tuple[str, str]]:
    if not run_ids:
        return {}
    rows = session.connection().execute(core_select(Run.__table__.c.id, Run.__table__.c.workflow_id,
                                                    Run.__table__.c.definition)
                                        .where(Run.__table__.c.id.in_(run_ids))).all()
    return {rid: (wf, (d or {}).get("name", "")) for rid, wf, d in rows}


def _pending_stmt(actor: Actor) -> Any:
    return (select(Approval).where(Approval.workspace_id == actor.workspace_id,
                                   Approval.status == ApprovalStatus.pending.value,
                                   Approval.approver_role.in_(_roles_at_most(Role(actor.role)))))


def list_pending(session: Session, actor: Actor, *, cursor: str | None = None, limit: int = 50) -> Page[ApprovalPublic]:
    """Pending approvals this actor may decide, newest first (a viewer sees none)."""
    if not _may_decide(actor, Role.editor.value):
        return Page[ApprovalPublic](items=[], next_cursor=None)
    page = keyset_page(session, _pending_stmt(actor), Approval, cursor=cursor, limit=limit, public=lambda r: r)
    names = _run_names(session, [r.run_id for r in page["items"]])
    return Page[ApprovalPublic](items=[_public(r, actor, names) for r in page["items"]],
                                next_cursor=page["next_cursor"])


def list_visible(session: Session, actor: Actor, *, cursor: str | None = None,
                 limit: int = 50) -> Page[ApprovalPublic]:
    """Every pending approval of the workspace, newest first, each with ``can_decide`` for this
    actor: what a viewer's Approvals page shows (they see what waits, read-only)."""
    stmt = select(Approval).where(Approval.workspace_id == actor.workspace_id,
                                  Approval.status == ApprovalStatus.pending.value)
    page = keyset_page(session, stmt, Approval, cursor=cursor, limit=limit, public=lambda r: r)
    names = _run_names(session, [r.run_id for r in page["items"]])
    return Page[ApprovalPublic](items=[_public(r, actor, names) for r in page["items"]],
                                next_cursor=page["next_cursor"])


def count_pending(session: Session, actor: Actor) -> int:
    """How many approvals wait for this actor (the sidebar's badge)."""
    if not _may_decide(actor, Role.editor.value):
        return 0
    stmt = core_select(func.count()).select_from(approvals_t).where(
        approvals_t.c.workspace_id == actor.workspace_id, approvals_t.c.status == ApprovalStatus.pending.value,
        approvals_t.c.approver_role.in_(_roles_at_most(Role(actor.role))))
    return int(session.connection().execute(stmt).scalar() or 0)


def for_run(session: Session, actor: Actor, run_id: str) -> list[ApprovalPublic]:
    """Every approval of one run (the run page shows pending ones actionable in place)."""
    rows = session.exec(select(Approval).where(Approval.workspace_id == actor.workspace_id, Approval.run_id == run_id)
                        .order_by(Approval.created_at)).all()
    names = _run_names(session, [run_id])
    return [_public(r, actor, names) for r in rows]


def _label(session: Session, actor: Actor) -> str:
    """Who decided: the member's email, else the actor's label (an API token, the CLI)."""
    if actor.user_id:
        user = session.get(User, actor.user_id)
        if user is not None:
            return user.email
    return actor.label


def decide(session: Session, actor: Actor, approval_id: str, *, approved: bool,
           comment: str | None = None) -> ApprovalPublic:
    """Approve or reject a pending approval; audit row; wake the run."""
    row = session.exec(select(Approval).where(Approval.id == approval_id,
                                              Approval.workspace_id == actor.workspace_id)).first()
    if row is None:
        raise NotFound("approval not found")
    if not _may_decide(actor, row.approver_role):
        raise Forbidden(f"deciding this approval needs the {row.approver_role} role; "
                        f"you are {Role(actor.role).value}")
    comment = (comment or "").strip() or None
    if comment and len(comment) > MAX_COMMENT:
        raise ValidationFailed("the comment is too long", {"comment": f"at most {MAX_COMMENT} characters"})
    if comment and "\x00" in comment:
        raise ValidationFailed("the comment is invalid", {"comment": "must not contain NUL characters"})
    if row.status != ApprovalStatus.pending.value:
        raise Conflict(f"this approval was already {row.status}")
    now = utcnow()
    status = ApprovalStatus.approved if approved else ApprovalStatus.rejected
    by = _label(session, actor)
    done = session.connection().execute(
        update(approvals_t).where(approvals_t.c.id == row.id, approvals_t.c.status == ApprovalStatus.pending.value)
        .values(status=status.value, decided_by=by, comment=comment, decided_at=now))
    if not done.rowcount:
        raise Conflict("this approval was decided a moment ago by someone else")
    details = {"approval_id": row.id, "step": row.step_path, "comment": comment}
    if approved:
        audit.record(session, actor, "approval.approve", "run", row.run_id, details)
    else:
        audit.record(session, actor, "approval.reject", "run", row.run_id, details)
    wake(session, row.run_id, row.workspace_id)
    session.refresh(row)
    return _public(row, actor, _run_names(session, [row.run_id]))


# -- used by the executor ------------------------------------------------------------------


def create(conn: Any, *, workspace_id: str, run_id: str, step_path: str, message: str, approver_role: str,
           expires_at: datetime | None) -> dict[str, Any]:
    """The approval row of a waiting step (created once; a resumed run finds it again)."""
    existing = state_of(conn, run_id, step_path)
    if existing is not None:
        return existing
    conn.execute(insert(approvals_t).values(
        id=new_id(), workspace_id=workspace_id, run_id=run_id, step_path=step_path, message=message,
        approver_role=approver_role, status=ApprovalStatus.pending.value, created_at=utcnow(), expires_at=expires_at))
    return state_of(conn, run_id, step_path) or {}


def state_of(conn: Any, run_id: str, step_path: str) -> dict[str, Any] | None:
    row = conn.execute(core_select(approvals_t).where(approvals_t.c.run_id == run_id,
                                                 approvals_t.c.step_path == step_path)).mappings().first()
    return dict(row) if row else None


def expire(conn: Any, run_id: str, step_path: str) -> None:
    conn.execute(update(approvals_t).where(approvals_t.c.run_id == run_id, approvals_t.c.step_path == step_path,
                                           approvals_t.c.status == ApprovalStatus.pending.value)
                 .values(status=ApprovalStatus.expired.value, decided_at=utcnow()))
