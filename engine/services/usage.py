"""Usage counters (runs and steps per workspace per month), upserted atomically."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection as SAConnection
from sqlmodel import Session

from engine.db import utcnow
from engine.models import Usage, new_id

usage_table = Usage.__table__


def month_of(when: datetime | None = None) -> str:
    return (when or utcnow()).strftime("%Y-%m")


def add_usage(conn: SAConnection | Session, workspace_id: str, *, runs: int = 0, steps: int = 0) -> None:
    """Add to this month's counters with one INSERT .. ON CONFLICT DO UPDATE."""
    dialect = conn.bind.dialect.name if isinstance(conn, Session) else conn.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(usage_table).values(id=new_id(), workspace_id=workspace_id, month=month_of(), runs=runs, steps=steps)
    stmt = stmt.on_conflict_do_update(
        index_elements=["workspace_id", "month"],
        set_={"runs": usage_table.c.runs + runs, "steps": usage_table.c.steps + steps},
    )
    conn.execute(stmt)


def runs_this_month(session: Session, workspace_id: str) -> int:
    row = session.execute(
        select(func.coalesce(func.sum(usage_table.c.runs), 0)).where(
            usage_table.c.workspace_id == workspace_id, usage_table.c.month == month_of()
        )
    ).scalar_one()
    return int(row)


def usage_history(session: Session, workspace_id: str, months: int = 12) -> list[dict]:
    rows = session.execute(
        select(usage_table.c.month, usage_table.c.runs, usage_table.c.steps)
        .where(usage_table.c.workspace_id == workspace_id)
        .order_by(usage_table.c.month.desc())
        .limit(months)
    ).all()
    return [{"month": m, "runs": r, "steps": s} for m, r, s in rows]


class UsageBuffer:
    """Per-process usage counters, flushed to the Usage table about once a second.

    Every run of a workspace counts into the same Usage row; updating it in each run's final
    transaction would make all workers queue on that row's lock (one fsync at a time). Workers
    add here instead and one background flush writes the sums. A crashed process loses at most
    the last second of counts; the runs themselves are never affected.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def add(self, workspace_id: str, *, runs: int = 0, steps: int = 0) -> None:
        with self._lock:
            entry = self._pending[workspace_id]
            entry[0] += runs
            entry[1] += steps

    def clear(self) -> None:
        """Drop the pending sums unwritten: only when the database they belong to is gone (tests
        switch databases between runs; a count left over would name a workspace the next one lacks)."""
        with self._lock:
            self._pending = defaultdict(lambda: [0, 0])

    def flush(self) -> int:
        """Write the pending sums (one upsert per workspace); returns how many were written."""
        from engine.db import get_engine

        with self._lock:
            pending, self._pending = self._pending, defaultdict(lambda: [0, 0])
        if not pending:
            return 0
        try:
            with get_engine().begin() as conn:
                for workspace_id, (runs, steps) in sorted(pending.items()):
                    add_usage(conn, workspace_id, runs=runs, steps=steps)
        except Exception:
            with self._lock:  # keep the counts for the next flush
                for workspace_id, (runs, steps) in pending.items():
                    self._pending[workspace_id][0] += runs
                    self._pending[workspace_id][1] += steps
            raise
        return len(pending)


USAGE = UsageBuffer()


def flush_usage() -> int:
    """Write buffered usage now (the runtime's UsageFlush duty every second; tests and shutdown call it)."""
    return USAGE.flush()
