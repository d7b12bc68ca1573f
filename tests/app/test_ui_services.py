"""Services behind the web app's settings, members, audit and dashboard pages, and auth helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from engine.db import session_scope
from engine.errors import Forbidden, ValidationFailed
from engine.models import AuditLog, Role, Run
from engine.services import dashboard, workflows, workspaces
from engine.services.accounts import actor_for_user, create_user, create_workspace
from engine.services.actor import Actor
from engine.services.audit import list_audit
from flowmate_app.auth import safe_next


@pytest.fixture
def team(sqlite_db: str) -> dict:
    with session_scope() as session:
        ws = create_workspace(session, "Team")
        people = {role: create_user(session, f"{role}@example.com", "password123", ws, role=role)
                  for role in ("owner", "admin", "editor", "viewer")}
        return {"ws": ws.id, **{r: actor_for_user(session, u, ws.id) for r, u in people.items()},
                "ids": {r: u.id for r, u in people.items()}}


def test_settings_update_validates_audits_and_needs_admin(team: dict) -> None:
    with session_scope() as session:
        with pytest.raises(Forbidden):
            workspaces.update_settings(session, team["editor"], {"name": "Nope"})
        with pytest.raises(ValidationFailed) as err:
            workspaces.update_settings(session, team["admin"], {"timezone": "Mars/Olympus", "retention_days": 0,
                                                                "data_region": "moon"})
        assert set(err.value.fields) == {"timezone", "retention_days", "data_region"}
        workspaces.update_settings(session, team["admin"], {"name": "Team AU", "timezone": "Australia/Adelaide",
                                                            "retention_days": "90", "data_region": "au"})
    with session_scope() as session:
        ws = workspaces.workspace_public(workspaces.get_workspace(session, team["viewer"]))
        assert (ws["name"], ws["timezone"], ws["retention_days"]) == ("Team AU", "Australia/Adelaide", 90)
        row = session.exec(select(AuditLog).where(AuditLog.action == "workspace.update")).one()
        assert row.changes["after"]["timezone"] == "Australia/Adelaide"
        assert row.actor == "user:admin@example.com"


def test_members_roles_and_last_owner(team: dict) -> None:
    with session_scope() as session:
        assert [m["role"] for m in workspaces.list_members(session, team["viewer"])] == [
            "owner", "admin", "editor", "viewer"]
        with pytest.raises(Forbidden):
            workspaces.set_member_role(session, team["editor"], team["ids"]["viewer"], "editor")
        with pytest.raises(Forbidden):  # an admin cannot touch the owner role
            workspaces.set_member_role(session, team["admin"], team["ids"]["editor"], "owner")
        with pytest.raises(ValidationFailed):  # the last owner stays
            workspaces.set_member_role(session, team["owner"], team["ids"]["owner"], "admin")
        workspaces.set_member_role(session, team["admin"], team["ids"]["viewer"], "editor")
        with pytest.raises(ValidationFailed) as err:
            workspaces.add_member_by_email(session, team["admin"], "nobody@example.com", "viewer")
        assert "sign up" in err.value.fields["email"]
        with pytest.raises(ValidationFailed):
            workspaces.add_member_by_email(session, team["admin"], "editor@example.com", "viewer")
    with session_scope() as session:
        roles = {m["email"]: m["role"] for m in workspaces.list_members(session, team["owner"])}
        assert roles["viewer@example.com"] == "editor"


def test_audit_list_is_scoped_filtered_and_paged(team: dict) -> None:
    with session_scope() as session:
        other = create_workspace(session, "Other")
        workflows.create_workflow(session, Actor.system(other.id), {"name": "Theirs"})
        for i in range(5):
            workflows.create_workflow(session, team["editor"], {"name": f"Mine {i}"})
    with session_scope() as session:
        page = list_audit(session, team["viewer"], action="workflow.", limit=3)
        assert len(page["items"]) == 3 and page["next_cursor"]
        rest = list_audit(session, team["viewer"], action="workflow.", limit=3, cursor=page["next_cursor"])
        names = {e["changes"]["name"] for e in page["items"] + rest["items"]}
        assert names == {f"Mine {i}" for i in range(5)}
        assert list_audit(session, team["viewer"], actor_label="editor@")["items"]
        assert not list_audit(session, team["viewer"], actor_label="nobody")["items"]


def test_dashboard_days_follow_the_workspace_time_zone(team: dict) -> None:
    """Adelaide is UTC+10:30 in summer: 13:45 UTC on the 1st is 00:15 on the 2nd there."""
    with session_scope() as session:
        workspaces.update_settings(session, team["owner"], {"timezone": "Australia/Adelaide"})
        wf = workflows.create_workflow(session, team["owner"], {"name": "Tz"})
        at = datetime(2026, 1, 1, 13, 45, tzinfo=UTC)
        for status, minutes in (("succeeded", 0), ("failed", -30), ("succeeded", 1)):
            created = at + timedelta(minutes=minutes)
            session.add(Run(workspace_id=team["ws"], workflow_id=wf.id, status=status, created_at=created,
                            started_at=created, finished_at=created + timedelta(seconds=2)))
    with session_scope() as session:
        out = dashboard.summary(session, team["viewer"], now=datetime(2026, 1, 2, 3, 0, tzinfo=UTC))
    by_date = {d["date"]: d for d in out["chart"]}
    assert by_date["2026-01-02"]["succeeded"] == 2  # 00:15 and 00:16 local
    assert by_date["2026-01-01"]["failed"] == 1  # 23:45 local, the day before
    assert out["runs_today"] == 2 and out["runs_week"] == 3
    assert out["success_rate"] == pytest.approx(66.7) and out["p50_ms"] == 2000
    assert out["failed_recent"][0]["workflow_name"] == "Tz"


@pytest.mark.parametrize(("target", "expected"), [
    ("/runs?status=failed", "/runs?status=failed"), ("https://evil.example", "/"), ("//evil.example", "/"),
    ("/\\evil", "/"), ("", "/"), (None, "/"), ("/login", "/"), ("/workflows/abc", "/workflows/abc"),
])
def test_safe_next_only_allows_local_paths(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_viewer_role_rank() -> None:
    assert not Actor(workspace_id="w", role=Role.viewer, label="v").can_edit
