"""Retention: old finished runs are pruned in bounded batches while webhooks keep being accepted."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from governance_support import count_rows, insert_runs, make_workflow
from sqlalchemy import event
from sqlmodel import select

from engine.db import get_engine, session_scope, utcnow
from engine.errors import ValidationFailed
from engine.models import AuditLog, Run, StepRun, Workspace, new_id
from engine.services import audit, retention
from engine.services.actor import Actor


def _sqlite_bytes(url: str) -> int:
    path = Path(url.removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def test_20000_old_runs_are_pruned_in_batches_while_webhooks_answer(any_db: str, workspace: dict,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from engine.config import get_settings

    # No pause: this test is about batches and answers; bench/governance.py measures the pacing.
    monkeypatch.setenv("FLOWMATE_RETENTION_PAUSE_SECONDS", "0")
    get_settings.cache_clear()

    from flowmate_app.api import build_api

    actor = Actor.system(workspace["id"])
    old = utcnow() - timedelta(days=45)
    big = {"blob": "x" * 400}
    with TestClient(build_api(), raise_server_exceptions=False) as client:
        r = client.post("/api/v1/workflows", headers=_owner_token(workspace["id"]), json={
            "name": "Intake", "trigger": {"type": "webhook", "config": {}},
            "steps": [{"key": "note", "action": "core.log", "config": {"message": "hi"}}]})
        assert r.status_code == 201, r.text
        wf_id, hook = r.json()["id"], r.json()["trigger"]["webhook_path"]
        insert_runs(workspace["id"], wf_id, 20_000, finished_at=old, payload=big, step_output=big)
        kept_old_unfinished = insert_runs(workspace["id"], wf_id, 5, finished_at=old, status="waiting")
        recent = insert_runs(workspace["id"], wf_id, 300, finished_at=utcnow() - timedelta(days=29))
        size_before = _sqlite_bytes(any_db) if any_db.startswith("sqlite") else 0

        deleted_per_statement: list[int] = []

        def watch(conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001
            if statement.lstrip().upper().startswith("DELETE"):
                deleted_per_statement.append(cursor.rowcount)

        event.listen(get_engine(), "after_cursor_execute", watch)
        result: dict = {}
        pruner = threading.Thread(target=lambda: result.update(retention.run_retention_duty()))
        pruner.start()
        answers = []
        while pruner.is_alive() or len(answers) < 20:
            answers.append(client.post(hook, json={"n": len(answers)}).status_code)
            time.sleep(0.03)  # under the per-webhook rate limit (50/s)
        pruner.join()
        event.remove(get_engine(), "after_cursor_execute", watch)

    assert set(answers) == {202}, answers
    assert result["runs"] == 20_000 and result["step_runs"] == 40_000
    assert max(deleted_per_statement) <= 1000 and len(deleted_per_statement) >= 60
    remaining = count_rows(Run, Run.workspace_id == workspace["id"])
    assert remaining == 5 + 300 + len(answers)
    assert count_rows(Run, Run.id.in_(kept_old_unfinished)) == 5 and count_rows(Run, Run.id.in_(recent)) == 300
    assert count_rows(StepRun) == 300 * 2 + 5 * 2 + count_rows(StepRun, StepRun.step_key == "note")
    if any_db.startswith("sqlite"):
        assert result["sqlite_pages_freed"] > 0
        assert _sqlite_bytes(any_db) < size_before / 2, (size_before, _sqlite_bytes(any_db))
    with session_scope() as session:
        preview = retention.preview(session, actor)
    assert preview["runs_to_prune"] == 0 and preview["last_run_at"] and preview["last_run"]["runs"] == 20_000


def _owner_token(workspace_id: str) -> dict[str, str]:
    from engine.services.accounts import create_token

    with session_scope() as session:
        _, clear = create_token(session, Actor.system(workspace_id), role="owner")
    return {"Authorization": f"Bearer {clear}"}


def test_audit_rows_have_their_own_retention_with_a_90_day_floor(sqlite_db: str, workspace: dict) -> None:
    actor = Actor.system(workspace["id"])
    with session_scope() as session:  # written through the hash chain, then aged (oldest first)
        for _ in range(4):
            audit.record(session, actor, "x.y", "x", None)
    ages = (500, 400, 200, 100)  # workspace.create and three rows; the newest row is kept as written
    with session_scope() as session:
        rows = session.exec(select(AuditLog).where(AuditLog.workspace_id == workspace["id"])
                            .order_by(AuditLog.seq)).all()
        for row, days in zip(rows, ages, strict=False):
            row.created_at = utcnow() - timedelta(days=days)
            session.add(row)
    with session_scope() as session:
        assert retention.preview(session, actor)["audit_rows_to_prune"] == 2  # default 365 days
        with pytest.raises(ValidationFailed) as info:
            retention.set_audit_retention(session, actor, 89)
        assert "90" in info.value.fields["audit_retention_days"]
        retention.set_audit_retention(session, actor, 90)
    with session_scope() as session:
        assert retention.preview(session, actor)["audit_rows_to_prune"] == 4
    assert retention.run_retention_duty()["audit_rows"] == 4
    with session_scope() as session:
        assert session.get(Workspace, workspace["id"]).audit_retention_days == 90
    assert count_rows(AuditLog, AuditLog.action == "x.y") == 1
    with session_scope() as session:  # the kept rows still prove themselves
        assert audit.verify_chain(session, workspace["id"])["ok"]
    # Every process runs the loop; only one pass per interval prunes (the CLI forces one).
    assert retention.run_retention_duty() == {"skipped": True}
    assert retention.run_retention_duty(force=True)["workspaces"] == 1


def test_the_duty_is_hooked_into_the_maintenance_loop(sqlite_db: str, workspace: dict,
                                                      monkeypatch: pytest.MonkeyPatch, start_runtime: Any) -> None:
    monkeypatch.setenv("FLOWMATE_RETENTION_INTERVAL_SECONDS", "0.2")
    from engine.config import get_settings

    get_settings.cache_clear()
    wf = make_workflow(Actor.system(workspace["id"]))
    insert_runs(workspace["id"], wf, 10, finished_at=utcnow() - timedelta(days=31))
    from support import wait_for

    runtime = start_runtime(consume=False)  # the duties alone, as in `flowmate scheduler`
    try:
        wait_for(lambda: count_rows(Run) == 0, timeout=10)
    finally:
        runtime.stop()
    assert os.environ["FLOWMATE_RETENTION_INTERVAL_SECONDS"] == "0.2"


def test_a_pass_that_deletes_leaves_one_audit_row_per_workspace_with_counts(sqlite_db: str, workspace: dict) -> None:
    from sqlmodel import select

    from engine.services import audit

    wf = make_workflow(Actor.system(workspace["id"]))
    insert_runs(workspace["id"], wf, 3, finished_at=utcnow() - timedelta(days=31), payload={"email": "jo@x.example"})
    assert retention.run_retention_duty()["runs"] == 3
    with session_scope() as session:
        rows = session.exec(select(AuditLog).where(AuditLog.action == "retention.prune")).all()
        assert [(r.workspace_id, r.actor) for r in rows] == [(workspace["id"], "system:retention")]
        assert rows[0].changes["runs"] == 3 and "jo@x.example" not in str(rows[0].changes)
        assert audit.verify_chain(session, workspace["id"])["ok"]
    assert retention.run_retention_duty(force=True)["runs"] == 0  # nothing deleted: no new row
    assert count_rows(AuditLog, AuditLog.action == "retention.prune") == 1


class _IntakeInFlight:
    """A webhook intake caught mid-write. SQLite: a connection holding the single writer lock with its
    run INSERT not yet committed. PostgreSQL: a client backend busy running a statement."""

    def __init__(self, url: str, workspace_id: str, workflow_id: str) -> None:
        self.sqlite = url.startswith("sqlite")
        self.conn = get_engine().connect()
        self.run_id = new_id()
        if self.sqlite:
            self.conn = self.conn.execution_options(isolation_level="AUTOCOMMIT")
            self.conn.exec_driver_sql("BEGIN IMMEDIATE")
            self.conn.execute(Run.__table__.insert().values(
                id=self.run_id, workspace_id=workspace_id, workflow_id=workflow_id, workflow_version=1,
                definition={}, status="queued", trigger_type="webhook", trigger_payload={}, attempt=0,
                created_at=utcnow()))
        else:
            self.pid = self.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            self.conn.commit()
            self.statement = threading.Thread(target=self._sleep)
            self.statement.start()
            from support import wait_for

            wait_for(self._active)

    def _sleep(self) -> None:
        from sqlalchemy.exc import DBAPIError

        with contextlib.suppress(DBAPIError):  # cancelled by finish()
            self.conn.exec_driver_sql("SELECT pg_sleep(300)")

    def _active(self) -> bool:
        with get_engine().connect() as conn:
            return conn.exec_driver_sql("SELECT state = 'active' FROM pg_stat_activity "
                                        f"WHERE pid = {int(self.pid)}").scalar()

    def finish(self) -> None:
        if self.sqlite:
            self.conn.exec_driver_sql("COMMIT")
        else:
            with get_engine().connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_cancel_backend({self.pid})")
            self.statement.join(timeout=30)
        self.conn.close()


def test_a_batch_yields_while_intake_is_busy_and_goes_on_when_it_is_done(any_db: str, workspace: dict,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from support import wait_for

    from engine.config import get_settings
    from engine.services.batch_delete import Throttle

    monkeypatch.setenv("FLOWMATE_RETENTION_BATCH_ROWS", "40")  # 10 runs (+ 20 step runs) per transaction
    monkeypatch.setenv("FLOWMATE_RETENTION_PAUSE_SECONDS", "0")
    get_settings.cache_clear()
    wf = make_workflow(Actor.system(workspace["id"]))
    old = insert_runs(workspace["id"], wf, 60, finished_at=utcnow() - timedelta(days=40))
    with session_scope() as session:
        ws = session.get(Workspace, workspace["id"])
        session.expunge(ws)
    pacer = Throttle(get_engine(), max_yield_s=300)  # the test decides when intake is done

    intake = _IntakeInFlight(any_db, workspace["id"], wf)
    result: dict = {}
    pruner = threading.Thread(target=lambda: result.update(retention.prune_workspace(ws, pacer=pacer)))
    pruner.start()
    try:
        wait_for(lambda: pacer.yields >= 5)  # the purge keeps stepping back...
        assert pacer.batches == 0 and count_rows(Run, Run.id.in_(old)) == 60  # ...and has deleted nothing
    finally:
        intake.finish()
    pruner.join(timeout=120)
    assert not pruner.is_alive()
    assert result["runs"] == 60 and result["step_runs"] == 120
    assert pacer.batches >= 6  # then it went on, one short transaction per slice of 10 runs
    assert count_rows(Run, Run.id.in_(old)) == 0 and count_rows(StepRun) == 0
    if intake.sqlite:  # the intake's run was committed and is kept
        assert count_rows(Run, Run.id == intake.run_id) == 1


def test_postgresql_purge_skips_runs_another_transaction_holds(pg_db: str, workspace: dict) -> None:
    wf = make_workflow(Actor.system(workspace["id"]))
    old = insert_runs(workspace["id"], wf, 30, finished_at=utcnow() - timedelta(days=40))
    held = old[:3]
    with session_scope() as session:
        ws = session.get(Workspace, workspace["id"])
        session.expunge(ws)
    with get_engine().connect() as other:  # e.g. an erasure redacting these runs right now
        other.execute(select(Run.id).where(Run.id.in_(held)).with_for_update())
        result: dict = {}
        pruner = threading.Thread(target=lambda: result.update(retention.prune_workspace(ws)))
        pruner.start()
        pruner.join(timeout=120)
        assert not pruner.is_alive()  # it never waited for the held rows
        assert result["runs"] == 27
        assert count_rows(Run, Run.id.in_(old)) == 3 and count_rows(StepRun) == 6
        other.rollback()
    assert retention.prune_workspace(ws)["runs"] == 3  # the next pass takes them
    assert count_rows(Run) == 0


def test_on_sqlite_batches_shrink_while_intake_writes_and_grow_back_when_it_is_quiet(
        sqlite_db: str, workspace: dict) -> None:
    """A purge transaction that began after stepping back for a writer takes half as many rows
    (down to the floor); eight quiet ones in a row grow it by a quarter; retention's own
    throttle is adaptive on SQLite only."""
    import sqlite3

    from engine.services.batch_delete import Throttle

    path = sqlite_db.removeprefix("sqlite:///")

    def rows_of_one_transaction(contended: bool) -> int:
        writer = None
        if contended:  # an intake INSERT holding SQLite's writer lock as the batch begins
            writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            writer.execute("BEGIN IMMEDIATE")
            threading.Timer(0.02, writer.rollback).start()
        try:
            with pacer.transaction():
                return pacer.rows(200)
        finally:
            if writer is not None:
                writer.close()

    pacer = Throttle(get_engine(), pause_s=0.01, max_yield_s=5, min_rows=20, contended_rest_s=0.25)
    sizes = [rows_of_one_transaction(c) for c in (False, True, True, True)]
    assert sizes == [200, 100, 50, 25] and pacer.rest_for(0.001) == 0.01  # halved on each yield
    sizes = [rows_of_one_transaction(c) for c in (True, True)]
    assert sizes == [20, 20] and pacer.rest_for(0.001) == 0.25  # never below the floor, and spaced out there
    assert pacer.yields >= 5
    quiet = [rows_of_one_transaction(False) for _ in range(16)]
    assert quiet[:7] == [20] * 7 and quiet[7] == 25 and quiet[15] == 31  # a quarter more per 8 quiet ones
    assert rows_of_one_transaction(True) == 20  # 31 halved is 15: the floor holds
    assert Throttle(get_engine()).rows(200) == 200  # a fixed throttle (workspace deletion) never adapts
    own = retention.throttle(get_engine())
    assert own.min_rows == retention.SQLITE_MIN_BATCH_ROWS and own.contended_rest_s == 0.25  # 5 x 0.05 s
