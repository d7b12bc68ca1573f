"""The sweeper re-enqueues a forgotten queued run once per grace period, not on every sweep.

Every worker process and scheduler sweeps; before this, each of them re-enqueued every old
queued run on every sweep, which flooded a backlogged queue with duplicates (bench/soak.py saw
13,000 messages for 700 queued runs after a Redis restart, and the backlog stopped draining).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from engine.db import get_engine, utcnow
from engine.models import Run
from engine.services.actor import Actor
from engine.services.runs import start_manual_run
from engine.services.workflows import create_workflow


def test_a_stale_queued_run_is_requeued_once_per_grace_period(sqlite_db: str, workspace: dict,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.config import get_settings
    from engine.db import session_scope
    from engine.maintenance import sweep_once

    monkeypatch.setenv("FLOWMATE_QUEUED_GRACE_SECONDS", "0.5")
    get_settings.cache_clear()
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        wf = create_workflow(session, actor, {"name": "Forgotten", "steps": [
            {"key": "note", "action": "core.log", "config": {"message": "x"}}]})
    run = start_manual_run(actor, wf.id, {})
    with get_engine().begin() as conn:  # as if its message was lost a minute ago
        conn.execute(update(Run.__table__).where(Run.__table__.c.id == run.id)
                     .values(created_at=utcnow() - timedelta(minutes=1)))
    assert sweep_once() == 1
    assert sweep_once() == 0, "a second sweeper (or the next sweep) must not enqueue it again"
    time.sleep(0.6)
    assert sweep_once() == 1, "after another grace period it is enqueued again"
