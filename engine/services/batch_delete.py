"""Delete many rows without long transactions: a bounded batch of ids per transaction.

Used by retention and workspace deletion, which may remove millions of runs while webhook intake
keeps inserting: every transaction selects at most ``batch`` ids and deletes exactly those, so
no lock is held longer than one small DELETE and intake never waits behind the purge.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine


def delete_in_batches(engine: Engine, table: Any, where: Any, batch: int, pause_s: float = 0.0) -> int:
    """Delete every row of ``table`` matching ``where``, ``batch`` rows per transaction."""
    total = 0
    while True:
        with engine.begin() as conn:
            ids = [r[0] for r in conn.execute(select(table.c.id).where(where).limit(batch))]
            if not ids:
                return total
            total += conn.execute(delete(table).where(table.c.id.in_(ids))).rowcount or 0
        if pause_s:
            time.sleep(pause_s)  # let other writers in between batches (SQLite has one writer)


def delete_runs_in_batches(engine: Engine, run_where: Any, batch: int, pause_s: float = 0.0) -> dict[str, int]:
    """Delete runs matching ``run_where`` with their step runs; no transaction over ``batch`` rows.

    Each round takes a slice of run ids, deletes their step runs (in ``batch``-sized chunks) and
    then the runs themselves, so a half-finished purge never leaves step runs without a run.
    """
    from engine.models import Approval, Run, StepRun, WaitToken

    runs_t, steps_t = Run.__table__, StepRun.__table__
    # Rows that hang off a run (flow control): approvals and resume tokens go with it.
    hanging = (Approval.__table__, WaitToken.__table__)
    counts = {"runs": 0, "step_runs": 0}
    run_slice = max(1, batch // 4)
    while True:
        with engine.connect() as conn:
            run_ids = [r[0] for r in conn.execute(select(runs_t.c.id).where(run_where).limit(run_slice))]
        if not run_ids:
            return counts
        counts["step_runs"] += delete_in_batches(engine, steps_t, steps_t.c.run_id.in_(run_ids), batch, pause_s)
        with engine.begin() as conn:
            for table in hanging:
                conn.execute(delete(table).where(table.c.run_id.in_(run_ids)))
            counts["runs"] += conn.execute(delete(runs_t).where(runs_t.c.id.in_(run_ids))).rowcount or 0
        if pause_s:
            time.sleep(pause_s)
