"""Delete many rows without long transactions: a bounded batch of ids per transaction.

Used by retention and workspace deletion, which may remove millions of runs while webhook intake
keeps inserting: every transaction selects at most ``batch`` ids and deletes exactly those, so
no lock is held longer than one small DELETE and intake never waits behind the purge.

A :class:`Throttle` paces the transactions. Between batches it rests for a fixed pause or a
multiple of the batch's own time (up to a bound), whichever is longer: a slow, loaded machine
then gets longer rests, so the purge takes only a fixed share of the writer's time. Before a batch
it *yields* while intake is busy:

- SQLite has one writer. The batch opens its transaction with ``BEGIN IMMEDIATE`` under a zero
  busy timeout: when another connection holds the write lock (an intake INSERT, a worker's step
  write), that fails at once and the purge steps back and tries again a moment later, instead of
  queueing in SQLite's busy handler where it competes with intake for the lock.
- PostgreSQL has no single writer but shares the CPU and the disk: the purge waits while another
  client backend of this database is running a statement (``pg_stat_activity``), and (retention,
  ``skip_locked``) selects the rows it deletes with ``FOR UPDATE SKIP LOCKED``, so it never waits
  behind (or blocks) a transaction that is working on the same runs; workspace deletion must take
  every row, so it waits for them.

Yielding is bounded (``max_yield_s`` per batch): under intake that never pauses the purge still
makes progress, as any other writer would.

A throttle given ``min_rows`` also *shrinks its batches under contention*: an intake write that
arrives while a purge transaction holds the lock waits for all of it (on SQLite through the busy
handler's back-off: 1, 2, 5, 10 ms...), so the length of one transaction is what moves intake's
p99. When a batch had to yield, the next ones take half as many rows (down to ``min_rows``); eight
quiet batches in a row grow them back by a quarter, up to the caller's limit. At the floor it also
rests at least ``contended_rest_s``, so few intake writes meet a purge transaction at all: an idle
machine purges in large batches, a busy one in small, short, spaced ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, exists, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

YIELD_STEP_S = 0.002  # how long a yielding batch steps back before it looks again
QUIET_BATCHES_TO_GROW = 8  # an adaptive throttle grows its batches after this many uncontended ones

_OTHERS_ACTIVE = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND state = 'active' AND backend_type = 'client backend'")


class Throttle:
    """Paces a purge's transactions; counts ``batches`` committed, ``yields`` to intake and the
    ``longest_s`` a transaction held its locks (what a colliding intake write may wait for).

    ``pause_s``: the least rest after a batch; ``ratio``: rest at least this many times the batch's
    own duration, but at most ``max_rest_s`` (on a starved CPU a batch's wall time balloons, and
    an unbounded rest would stall the purge); ``max_yield_s``: the longest a batch steps back for
    intake (0 = never yields); ``skip_locked``: on PostgreSQL, leave rows another transaction holds
    for a later pass (retention) instead of waiting for them (workspace deletion must take all);
    ``min_rows``: the smallest batch :meth:`rows` shrinks to under contention (0 = fixed batches);
    ``contended_rest_s``: the least rest while batches are at that floor (intake is busy).
    """

    def __init__(self, engine: Engine, pause_s: float = 0.0, ratio: float = 0.0, max_yield_s: float = 0.0,
                 max_rest_s: float = 0.5, skip_locked: bool = False, min_rows: int = 0,
                 contended_rest_s: float = 0.0) -> None:
        self.engine, self.pause_s, self.ratio, self.max_yield_s = engine, pause_s, ratio, max_yield_s
        self.max_rest_s, self.skip_locked, self.min_rows = max_rest_s, skip_locked, min_rows
        self.contended_rest_s = contended_rest_s
        self._rows: int | None = None  # the current adaptive batch size
        self._contended = False  # whether the current transaction had to yield before it began
        self._quiet = 0  # transactions in a row that began without yielding
        self.sqlite = engine.dialect.name == "sqlite"
        self.batches = 0
        self.yields = 0
        self.longest_s = 0.0

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One short write transaction, begun when intake is not busy, followed by the rest."""
        self._contended = False
        with self.engine.connect() as conn:
            if self.sqlite:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # BEGIN/COMMIT are ours
                self._begin_sqlite(conn)
                self._adapt()
                started = time.perf_counter()
                try:
                    yield conn
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")
            else:
                self._wait_quiet_pg(conn)
                self._adapt()
                started = time.perf_counter()
                with conn.begin():
                    yield conn
        elapsed = time.perf_counter() - started
        self.batches += 1
        self.longest_s = max(self.longest_s, elapsed)
        self.rest(elapsed)

    def rows(self, limit: int) -> int:
        """How many rows the current transaction may take: ``limit`` for a fixed throttle, else the
        adaptive size (see :meth:`_adapt`) kept between the floor and ``limit``."""
        if self.min_rows <= 0:
            return limit
        self._rows = limit if self._rows is None else max(min(self.min_rows, limit), min(limit, self._rows))
        return self._rows

    def _adapt(self) -> None:
        """Once per transaction, as it begins: half the size when it had to yield, a quarter more
        after ``QUIET_BATCHES_TO_GROW`` quiet ones in a row (intake that collides with one batch in
        three is busy: it must keep the batches small)."""
        if self.min_rows <= 0 or self._rows is None:
            return
        if self._contended:
            self._rows, self._quiet = self._rows // 2, 0
        else:
            self._quiet += 1
            if self._quiet >= QUIET_BATCHES_TO_GROW:
                self._rows, self._quiet = self._rows + max(1, self._rows // 4), 0

    def rest(self, elapsed: float) -> None:
        """Sleep after a batch that took ``elapsed`` seconds."""
        pause = self.rest_for(elapsed)
        if pause > 0:
            time.sleep(pause)

    def rest_for(self, elapsed: float) -> float:
        """The rest after a batch of ``elapsed`` seconds: the pause or ``ratio`` times the batch
        (at most ``max_rest_s``); at least ``contended_rest_s`` while batches are at their floor."""
        pause = max(self.pause_s, min(elapsed * self.ratio, self.max_rest_s))
        if self.min_rows and self._rows is not None and self._rows <= self.min_rows:
            pause = max(pause, self.contended_rest_s)
        return pause

    def _begin_sqlite(self, conn: Connection) -> None:
        deadline = time.monotonic() + self.max_yield_s
        timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0
        conn.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            while time.monotonic() < deadline:
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    return
                except OperationalError as exc:  # SQLITE_BUSY: another connection is writing
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                self.yields += 1
                self._contended = True
                time.sleep(YIELD_STEP_S)
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(timeout)}")  # waited long enough: queue up
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(timeout)}")

    def _wait_quiet_pg(self, conn: Connection) -> None:
        if self.max_yield_s <= 0:
            return
        deadline = time.monotonic() + self.max_yield_s
        while time.monotonic() < deadline:
            busy = conn.execute(_OTHERS_ACTIVE).scalar()
            conn.rollback()  # pg_stat_activity is a snapshot per transaction: look again in a new one
            if not busy:
                return
            self.yields += 1
            self._contended = True
            time.sleep(YIELD_STEP_S)


def _ids(conn: Connection, stmt: Any, throttle: Throttle) -> list[Any]:
    if throttle.skip_locked and not throttle.sqlite:
        stmt = stmt.with_for_update(skip_locked=True)
    return [r[0] for r in conn.execute(stmt)]


def delete_in_batches(engine: Engine, table: Any, where: Any, batch: int, pause_s: float = 0.0,
                      throttle: Throttle | None = None) -> int:
    """Delete every row of ``table`` matching ``where``, ``batch`` rows per transaction (by primary key)."""
    throttle = throttle or Throttle(engine, pause_s)
    total = 0
    while True:
        with throttle.transaction() as conn:
            ids = _ids(conn, select(table.c.id).where(where).order_by(table.c.id).limit(throttle.rows(batch)),
                       throttle)
            if ids:
                total += conn.execute(delete(table).where(table.c.id.in_(ids))).rowcount or 0
        if not ids:
            return total


def delete_runs_in_batches(engine: Engine, run_where: Any, batch: int, pause_s: float = 0.0,
                           throttle: Throttle | None = None, order_by: Any = None) -> dict[str, int]:
    """Delete runs matching ``run_where`` with their step runs; no transaction over ``batch`` rows.

    Each transaction takes a slice of runs in ``order_by`` order (pass the column of the index
    ``run_where`` uses, so the slice is read straight off it; default the primary key), deletes up
    to the rest of the batch of their step runs (in ``run_id`` index order) and then those runs of
    the slice that have no step run left; a run with more steps than fit is finished by the next
    transaction. So a half-finished purge never leaves step runs without a run.
    """
    from engine.models import RUN_ATTACHED_TABLES, Run, StepRun

    runs_t, steps_t = Run.__table__, StepRun.__table__
    throttle = throttle or Throttle(engine, pause_s)
    counts = {"runs": 0, "step_runs": 0}
    order = order_by if order_by is not None else runs_t.c.id
    while True:
        with throttle.transaction() as conn:
            rows = throttle.rows(batch)
            run_slice = max(1, rows // 4)
            run_ids = _ids(conn, select(runs_t.c.id).where(run_where).order_by(order).limit(run_slice),
                           throttle)
            steps = runs = 0
            if run_ids:
                step_ids = _ids(conn, select(steps_t.c.id).where(steps_t.c.run_id.in_(run_ids))
                                .order_by(steps_t.c.run_id).limit(max(1, rows - run_slice)), throttle)
                if step_ids:
                    steps = conn.execute(delete(steps_t).where(steps_t.c.id.in_(step_ids))).rowcount or 0
                for table in RUN_ATTACHED_TABLES:  # only for the runs of the slice that have no step run left
                    conn.execute(delete(table).where(table.c.run_id.in_(run_ids), ~exists().where(
                        steps_t.c.run_id == table.c.run_id)))
                runs = conn.execute(delete(runs_t).where(runs_t.c.id.in_(run_ids), ~exists().where(
                    steps_t.c.run_id == runs_t.c.id))).rowcount or 0
        counts["step_runs"] += steps
        counts["runs"] += runs
        if not run_ids or not (steps or runs):  # done, or what is left is held by others: next pass
            return counts
