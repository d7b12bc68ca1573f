"""Who sees which pending approval on the Approvals page: deciders get what they may decide,
a viewer gets every pending one read-only (engine.services.approvals.list_visible)."""

from __future__ import annotations

from engine.db import session_scope
from engine.models import Role
from engine.services import approvals, runs, workflows
from engine.services.accounts import create_workspace
from engine.services.actor import Actor


def test_a_viewer_sees_pending_approvals_read_only(sqlite_db: str) -> None:
    with session_scope() as session:
        ws = create_workspace(session, "Bakery")
        owner = Actor.system(ws.id)
        wf = workflows.create_workflow(session, owner, {"name": "W", "steps": [
            {"key": "log", "action": "core.log", "config": {"message": "hi"}}]})
    run = runs.start_test_run(owner, wf.id, {})
    with session_scope() as session:
        conn = session.connection()
        for path, role in (("ok", "editor"), ("boss", "admin")):
            approvals.create(conn, workspace_id=ws.id, run_id=run.id, step_path=path, message=f"{path}?",
                             approver_role=role, expires_at=None)
    viewer = Actor(workspace_id=ws.id, role=Role.viewer, label="viewer")
    editor = Actor(workspace_id=ws.id, role=Role.editor, label="editor")
    with session_scope() as session:
        assert approvals.list_pending(session, viewer).items == []
        seen = approvals.list_visible(session, viewer).items
        assert sorted(a.step_path for a in seen) == ["boss", "ok"] and not any(a.can_decide for a in seen)
        assert [a.step_path for a in approvals.list_pending(session, editor).items] == ["ok"]
        other = Actor(workspace_id=create_workspace(session, "Other").id, role=Role.viewer, label="v")
        assert approvals.list_visible(session, other).items == []  # scoped to the workspace
