"""Approval rows as the pages show them, built from engine.schemas.ApprovalPublic (pure Python,
unit-tested): formatted times, and why a member cannot decide when they cannot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.models import Role
from flowmate_app.formatting import fmt_ago, fmt_time


@dataclass
class ApprovalView:
    id: str
    run_id: str
    run_short: str
    workflow_id: str
    workflow_name: str
    step_path: str
    message: str
    approver_role: str
    status: str
    created: str
    ago: str
    expires: str
    decided_by: str
    comment: str
    can_decide: bool
    #: Why the buttons are disabled (empty when the member may decide).
    reason: str


def cannot_decide_reason(role: str, approver_role: str, status: str) -> str:
    """The sentence shown next to disabled Approve/Reject buttons."""
    if status != "pending":
        return f"Already {status}."
    if role == Role.viewer.value:
        return "Viewers cannot approve or reject: ask an editor or admin."
    try:
        too_low = Role(role).rank < Role(approver_role).rank
    except ValueError:
        too_low = True
    return f"Needs the {approver_role} role to decide (you are {role or 'signed out'})." if too_low else ""


def approval_view(item: dict[str, Any], role: str, tz: str) -> ApprovalView:
    reason = "" if item.get("can_decide") else (
        cannot_decide_reason(role, item.get("approver_role") or "", item.get("status") or "")
        or "You cannot decide this approval.")
    return ApprovalView(
        id=item["id"], run_id=item["run_id"], run_short=item["run_id"][:8], workflow_id=item.get("workflow_id") or "",
        workflow_name=item.get("workflow_name") or "Untitled workflow", step_path=item.get("step_path") or "",
        message=item.get("message") or "", approver_role=item.get("approver_role") or "",
        status=item.get("status") or "", created=fmt_time(item.get("created_at"), tz),
        ago=fmt_ago(item.get("created_at")),
        expires=fmt_time(item.get("expires_at"), tz) if item.get("expires_at") else "",
        decided_by=item.get("decided_by") or "", comment=item.get("comment") or "",
        can_decide=bool(item.get("can_decide")), reason=reason,
    )
