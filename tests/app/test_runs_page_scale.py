"""The runs page and dashboard queries stay fast with 100,000 runs in the workspace.

Runs are bulk-inserted straight into the table (no executor), spread over 30 days and two
workflows, with a second workspace's runs mixed in to prove the scoping. The first page, a page
90,000 runs deep (through its keyset cursor), filtered pages and the dashboard summary are each
timed and printed; correctness is asserted, speed is reported (no timed assertions).
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import insert, select

from engine.db import session_scope, utcnow
from engine.models import Run, new_id
from engine.services import dashboard, runs, workflows
from engine.services.accounts import create_workspace
from engine.services.actor import Actor
from engine.services.pagination import encode_cursor

N_RUNS = 100_000
STATUSES = ["succeeded"] * 8 + ["failed", "cancelled"]


def _seed(url: str) -> tuple[Actor, list[str]]:
    with session_scope() as session:
        ws = create_workspace(session, "Scale test")
        other = create_workspace(session, "Someone else")
        actor = Actor.system(ws.id)
        wf_ids = [workflows.create_workflow(session, actor, {"name": f"Workflow {i}", "steps": [
            {"key": "log", "action": "core.log", "config": {"message": "hi"}}]}).id for i in range(2)]
        other_wf = workflows.create_workflow(session, Actor.system(other.id), {"name": "Theirs"}).id
    now = utcnow()
    table = Run.__table__
    t0 = time.perf_counter()
    with session_scope() as session:
        batch = []
        for i in range(N_RUNS + 5_000):
            created = now - timedelta(seconds=i * 26)  # ~30 days
            mine = i < N_RUNS
            status = STATUSES[i % len(STATUSES)]
            batch.append({
                "id": new_id(), "workspace_id": ws.id if mine else other.id,
                "workflow_id": wf_ids[i % 2] if mine else other_wf, "workflow_version": 1,
                "definition": {"name": f"Workflow {i % 2}", "steps": []}, "status": status,
                "trigger_type": "webhook", "trigger_payload": {}, "attempt": 1,
                "created_at": created, "started_at": created,
                "finished_at": created + timedelta(milliseconds=150 + i % 900),
            })
            if len(batch) == 5_000:
                session.execute(insert(table), batch)
                batch = []
        if batch:
            session.execute(insert(table), batch)
    print(f"\nseeded {N_RUNS + 5_000} runs in {time.perf_counter() - t0:.1f} s ({url.split(':')[0]})")
    return actor, wf_ids


def _timed(label: str, fn):  # noqa: ANN001, ANN202 - tiny local helper
    t0 = time.perf_counter()
    out = fn()
    print(f"  {label:<40} {1000 * (time.perf_counter() - t0):8.1f} ms")
    return out


def test_first_and_deep_pages_with_100k_runs(any_db: str) -> None:
    actor, wf_ids = _seed(any_db)
    with session_scope() as session:
        first = _timed("first page (25)", lambda: runs.list_runs(session, actor, limit=25))
        assert len(first["items"]) == 25 and first["next_cursor"]
        stamps = [r["created_at"] for r in first["items"]]
        assert stamps == sorted(stamps, reverse=True)

        second = _timed("second page via cursor", lambda: runs.list_runs(session, actor, limit=25,
                                                                        cursor=first["next_cursor"]))
        assert not {r["id"] for r in first["items"]} & {r["id"] for r in second["items"]}

        # A cursor 90,000 runs deep, as a person clicking "Older" 3,600 times would hold.
        deep_row = session.exec(
            select(Run.created_at, Run.id).where(Run.workspace_id == actor.workspace_id)
            .order_by(Run.created_at.desc(), Run.id.desc()).offset(90_000).limit(1)
        ).one()
        deep_cursor = encode_cursor(deep_row[0], deep_row[1])
        deep = _timed("page 90,000 runs deep", lambda: runs.list_runs(session, actor, limit=25, cursor=deep_cursor))
        assert len(deep["items"]) == 25
        assert all(r["workflow_id"] in wf_ids for r in deep["items"])

        failed = _timed("status=failed, first page", lambda: runs.list_runs(session, actor, status="failed", limit=25))
        assert len(failed["items"]) == 25 and all(r["status"] == "failed" for r in failed["items"])
        one_wf = _timed("one workflow, first page", lambda: runs.list_runs(session, actor, workflow_id=wf_ids[1],
                                                                           limit=25))
        assert all(r["workflow_id"] == wf_ids[1] for r in one_wf["items"])
        week = _timed("last 7 days, deep filter", lambda: runs.list_runs(
            session, actor, since=utcnow() - timedelta(days=7), status="cancelled", limit=25))
        assert all(r["status"] == "cancelled" for r in week["items"])

        summary = _timed("dashboard summary (7 days)", lambda: dashboard.summary(session, actor))
        assert summary["runs_week"] > 20_000
        assert summary["failed_week"] > 0 and 75 < summary["success_rate"] < 95
        assert summary["p50_ms"] is not None and len(summary["chart"]) == 7
        assert {w["id"] for w in summary["top_workflows"]} == set(wf_ids)

        last = _timed("last run of 2 workflows", lambda: dashboard.last_run_by_workflow(session, actor, wf_ids))
        assert set(last) == set(wf_ids)
