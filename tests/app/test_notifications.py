"""The bell's read: failed runs and decidable approvals new since "seen", scoped and capped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.db import session_scope
from engine.models import Approval, Run
from engine.services import workflows
from engine.services.accounts import actor_for_user, create_user, create_workspace
from engine.services.actor import Actor
from flowmate_app.features.notifications.read import read_bell

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def team(sqlite_db: str) -> dict:
    with session_scope() as session:
        ws = create_workspace(session, "Team")
        people = {role: create_user(session, f"{role}@example.com", "password123", ws, role=role)
                  for role in ("admin", "editor", "viewer")}
        return {"ws": ws.id, **{r: actor_for_user(session, u, ws.id) for r, u in people.items()}}


def _run(session, ws: str, wf_id: str, status: str, minutes_ago: int, error: str | None = None) -> Run:
    at = NOW - timedelta(minutes=minutes_ago)
    run = Run(workspace_id=ws, workflow_id=wf_id, status=status, created_at=at - timedelta(seconds=5),
              started_at=at - timedelta(seconds=5), finished_at=at, error=error)
    session.add(run)
    session.flush()
    return run


def test_counts_failures_since_seen_and_lists_newest_first(team: dict) -> None:
    with session_scope() as session:
        wf = workflows.create_workflow(session, team["admin"], {"name": "Invoice sync"})
        other = create_workspace(session, "Other")
        theirs = workflows.create_workflow(session, Actor.system(other.id), {"name": "Theirs"})
        _run(session, other.id, theirs.id, "failed", 1, "not ours")
        _run(session, team["ws"], wf.id, "succeeded", 2)
        newest = _run(session, team["ws"], wf.id, "failed", 3, "HTTP 500 from api.example.com " + "x" * 400)
        _run(session, team["ws"], wf.id, "failed", 30, "timeout")
        _run(session, team["ws"], wf.id, "failed", 60 * 24 * 8, "ancient")  # older than the default window
        session.add(Approval(workspace_id=team["ws"], run_id=newest.id, step_path="ok", message="Pay Bob $40?",
                             approver_role="editor", created_at=NOW - timedelta(minutes=10)))
        session.add(Approval(workspace_id=team["ws"], run_id=newest.id, step_path="big", message="Admins only",
                             approver_role="admin", created_at=NOW - timedelta(minutes=11)))

    count, rows = read_bell(team["editor"], "", now=NOW)
    assert count == 3  # two recent failures + the approval an editor may decide; not the admin-only one
    assert [(r["kind"], r["title"]) for r in rows] == [
        ("run_failed", "Invoice sync"), ("approval", "Approval needed"), ("run_failed", "Invoice sync")]
    assert rows[0]["href"] == f"/runs/{newest.id}" and rows[0]["ago"] == "3 min ago"
    assert rows[0]["detail"].startswith("HTTP 500") and len(rows[0]["detail"]) == 200
    assert rows[1]["detail"] == "Pay Bob $40?" and rows[1]["href"] == "/approvals"

    assert read_bell(team["admin"], "", now=NOW)[0] == 4
    viewer_count, viewer_rows = read_bell(team["viewer"], "", now=NOW)
    assert viewer_count == 2 and {r["kind"] for r in viewer_rows} == {"run_failed"}

    seen = (NOW - timedelta(minutes=5)).isoformat()
    count, rows = read_bell(team["editor"], seen, now=NOW)
    assert count == 1 and [r["href"] for r in rows] == [f"/runs/{newest.id}"]
    assert read_bell(team["editor"], NOW.isoformat(), now=NOW) == (0, [])


def test_lists_at_most_ten_but_counts_all(team: dict) -> None:
    with session_scope() as session:
        wf = workflows.create_workflow(session, team["admin"], {"name": "Busy"})
        for i in range(13):
            _run(session, team["ws"], wf.id, "failed", i + 1, f"boom {i}")
    count, rows = read_bell(team["viewer"], "", now=NOW)
    assert count == 13 and len(rows) == 10
    assert [r["detail"] for r in rows[:2]] == ["boom 0", "boom 1"]
