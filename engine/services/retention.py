"""Retention: run history and audit rows are kept for a bounded time, then deleted.

A background duty (:func:`run_retention_duty`, called by the maintenance loop) deletes, per
workspace, runs that finished more than ``retention_days`` ago (with their step runs) and audit
rows older than ``audit_retention_days`` (default 365, never below 90). Deletes go in bounded
batches (FLOWMATE_RETENTION_BATCH_ROWS, at most 1,000 rows per transaction), so webhook intake
keeps its latency while a large backlog is purged. On SQLite the freed pages are then returned
to the file system with ``PRAGMA incremental_vacuum`` in small steps, so the file shrinks.
Unfinished runs (queued, running, waiting) are never pruned, however old. A pass that deleted
something in a workspace leaves one ``retention.prune`` audit row there with the counts.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, func, select
from sqlmodel import Session

from engine.config import get_settings
from engine.db import as_aware, get_engine, utcnow
from engine.errors import ValidationFailed
from engine.models import AuditLog, DutyRun, Role, Run, Workspace
from engine.services import audit
from engine.services.actor import Actor
from engine.services.batch_delete import Throttle, delete_runs_in_batches

log = structlog.get_logger("flowmate.retention")

DUTY = "retention"
FINISHED = ("succeeded", "failed", "cancelled")
MIN_AUDIT_DAYS = 90
MAX_AUDIT_DAYS = 3650
VACUUM_PAGES = 64  # pages freed per paced incremental_vacuum step (256 KB with 4 KiB pages)

runs_t, audit_t = Run.__table__, AuditLog.__table__


def _run_cutoff_where(workspace_id: str, cutoff: datetime) -> Any:
    return and_(runs_t.c.workspace_id == workspace_id, runs_t.c.finished_at < cutoff,
                runs_t.c.status.in_(FINISHED))


def _audit_cutoff_where(workspace_id: str, cutoff: datetime) -> Any:
    return and_(audit_t.c.workspace_id == workspace_id, audit_t.c.created_at < cutoff)


def cutoffs(ws: Workspace, now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or utcnow()
    return (now - timedelta(days=ws.retention_days),
            now - timedelta(days=max(MIN_AUDIT_DAYS, ws.audit_retention_days or 365)))


SQLITE_BATCH_ROWS = 200  # SQLite has one writer: one slice of 50 runs + their steps holds it ~10 ms
# On SQLite batches shrink to this under contention (see Throttle.rows): 5 runs + 15 step runs hold
# the single writer ~2-4 ms, so a colliding intake write waits one short back-off step, not several.
# PostgreSQL keeps full batches: it has no single writer, and smaller batches only mean more commits
# (WAL flushes) for the same rows: measured, its intake p99 moved no less with them.
SQLITE_MIN_BATCH_ROWS = 20
# ...and rest this many times FLOWMATE_RETENTION_PAUSE_SECONDS between those small batches (0.25 s
# by default): the purge then holds the writer ~1% of the time, so about 1% of intake writes meet
# it and intake's p99 does not move (bench/governance.py retention). Under steady intake it still
# deletes ~24 runs/s (85,000 an hour, at 100 webhooks/s); with intake quiet it goes back to full batches.
SQLITE_CONTENDED_PAUSE_FACTOR = 5
REST_RATIO = 4.0  # rest at least 4x each batch's time: the purge takes at most ~20% of the writer
MAX_YIELD_S = 0.05  # a batch steps back for busy intake this long at most, then queues like any writer
# (with workers writing step results the lock is busy most of the time: a longer bound stalls the purge)


def throttle(engine: Any) -> Throttle:
    """How retention paces its transactions (see :class:`engine.services.batch_delete.Throttle`)."""
    pause = get_settings().retention_pause_seconds
    if engine.dialect.name != "sqlite":
        return Throttle(engine, pause, REST_RATIO, MAX_YIELD_S, skip_locked=True)
    return Throttle(engine, pause, REST_RATIO, MAX_YIELD_S, skip_locked=True, min_rows=SQLITE_MIN_BATCH_ROWS,
                    contended_rest_s=pause * SQLITE_CONTENDED_PAUSE_FACTOR)


def prune_workspace(ws: Workspace, now: datetime | None = None, pacer: Throttle | None = None) -> dict[str, int]:
    """Delete the workspace's expired runs and audit rows in bounded, paced batches.

    Runs are taken in ``finished_at`` order straight off ``ix_run_ws_finished`` (the index the
    cut-off uses); each transaction deletes one slice of runs with their step runs.
    """
    engine = get_engine()
    settings = get_settings()
    batch, pause = settings.retention_batch_rows, settings.retention_pause_seconds
    if engine.dialect.name == "sqlite":
        batch = min(batch, SQLITE_BATCH_ROWS)
    pacer = pacer or throttle(engine)
    run_cutoff, audit_cutoff = cutoffs(ws, now)
    counts = delete_runs_in_batches(engine, _run_cutoff_where(ws.id, run_cutoff), batch, throttle=pacer,
                                    order_by=runs_t.c.finished_at)
    counts["audit_rows"] = audit.prune_chain(engine, ws.id, audit_cutoff, batch, pause)  # keeps the chain provable
    if counts["runs"] or counts["step_runs"] or counts["audit_rows"]:
        _record_prune(engine, ws.id, counts, run_cutoff, audit_cutoff)
    return counts


def _record_prune(engine: Any, workspace_id: str, counts: dict[str, int], run_cutoff: datetime,
                  audit_cutoff: datetime) -> None:
    """The workspace's audit row for a pass that deleted something: counts and cut-offs, never data.

    The deletes ran in many small transactions (see :mod:`engine.services.batch_delete`), so the
    row is written in its own transaction right after the last batch.
    """
    with Session(engine) as session:
        audit.record_as(session, workspace_id, f"system:{DUTY}", "retention.prune", "workspace", workspace_id,
                        {**counts, "run_cutoff": run_cutoff.isoformat(), "audit_cutoff": audit_cutoff.isoformat()})
        session.commit()


def shrink_sqlite(pacer: Throttle | None = None) -> int:
    """Give SQLite's free pages back to the file system, a few hundred KB per step; returns pages freed.

    Each step is one short write transaction paced like the deletes (it yields to intake and
    rests in proportion to its time): moving pages holds the single writer lock, and a step of
    thousands of pages kept webhook intake waiting for hundreds of ms. ``PRAGMA
    incremental_vacuum`` frees one page per step of its statement (``execute`` steps it once), so
    a step runs it page by page inside its transaction. Checkpoints are passive between steps, so the
    WAL stays small and the final truncating checkpoint has little left to copy.
    """
    engine = get_engine()
    if engine.dialect.name != "sqlite":
        return 0
    pacer = pacer or throttle(engine)
    with engine.connect() as conn:
        db = conn.connection.driver_connection
        if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            return 0
        start = free = db.execute("PRAGMA freelist_count").fetchone()[0]
    while free > 0:
        with pacer.transaction() as conn:
            db = conn.connection.driver_connection
            for _ in range(min(VACUUM_PAGES, free)):  # one page per statement step (see above)
                db.execute("PRAGMA incremental_vacuum(1)")
            now_free = _freelist(db)
        with engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        if now_free >= free:  # another connection holds pages: try again next pass
            break
        free = now_free
    with engine.connect() as conn:
        conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return start - free


def _freelist(db: Any) -> int:
    return db.execute("PRAGMA freelist_count").fetchone()[0]


def _lower_thread_priority() -> None:
    """Run the purge "nice", like workers: intake keeps the CPU when both want it.

    On Linux a nice value can be set per thread (by its native id); the maintenance loop gives
    this duty its own thread, so nothing else is slowed. Elsewhere this does nothing.
    """
    import os
    import threading

    if threading.current_thread() is threading.main_thread():
        return  # a command (flowmate retention run) lowers its whole process instead
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        target = max(current, min(19, get_settings().worker_nice or 10))
        if target > current:
            os.setpriority(os.PRIO_PROCESS, tid, target)


def _claim(started: datetime) -> bool:
    """Take this interval's pass: every worker and scheduler process runs the maintenance loop,
    but only the first to claim an interval prunes (a conditional UPDATE, like claiming a run)."""
    from sqlalchemy import or_, update
    from sqlalchemy.exc import IntegrityError

    table = DutyRun.__table__
    due = started - timedelta(seconds=get_settings().retention_interval_seconds * 0.9)
    with get_engine().begin() as conn:
        won = conn.execute(update(table).where(table.c.name == DUTY, or_(
            table.c.last_started_at.is_(None), table.c.last_started_at < due)).values(last_started_at=started)).rowcount
        if won:
            return True
        if conn.execute(select(table.c.name).where(table.c.name == DUTY)).first() is not None:
            return False
    try:
        with get_engine().begin() as conn:
            conn.execute(table.insert().values(name=DUTY, last_started_at=started, details={}))
        return True
    except IntegrityError:  # another process inserted it first
        return False


def run_retention_duty(now: datetime | None = None, force: bool = False) -> dict[str, Any]:
    """Maintenance entry point: prune every workspace, shrink SQLite, record when it ran.

    Skipped (``{"skipped": True}``) when another process already ran this interval's pass,
    unless ``force`` (``flowmate retention run``).
    """
    started = utcnow()
    if not _claim(started) and not force:
        return {"skipped": True}
    _lower_thread_priority()
    _record(started=started)
    totals = {"runs": 0, "step_runs": 0, "audit_rows": 0, "workspaces": 0}
    with Session(get_engine()) as session:
        workspaces = session.exec(select(Workspace)).scalars().all()
        session.expunge_all()
    pacer = throttle(get_engine())
    for ws in workspaces:
        counts = prune_workspace(ws, now, pacer)
        for key, value in counts.items():
            totals[key] += value
        totals["workspaces"] += 1
    totals["sqlite_pages_freed"] = shrink_sqlite(pacer)
    totals["batches"], totals["yields_to_intake"] = pacer.batches, pacer.yields
    totals["longest_transaction_ms"] = round(pacer.longest_s * 1000, 1)
    _record(finished=utcnow(), details=totals)
    if totals["runs"] or totals["audit_rows"]:
        log.info("retention.pruned", **totals)
    return totals


def _record(started: datetime | None = None, finished: datetime | None = None,
            details: dict[str, Any] | None = None) -> None:
    with Session(get_engine()) as session:
        row = session.get(DutyRun, DUTY) or DutyRun(name=DUTY)
        if started is not None:
            row.last_started_at = started
        if finished is not None:
            row.last_finished_at = finished
        if details is not None:
            row.details = details
        session.add(row)
        session.commit()


def preview(session: Session, actor: Actor) -> dict[str, Any]:
    """What the next retention pass will delete in this workspace, and when it last ran."""
    ws = session.get(Workspace, actor.workspace_id)
    if ws is None:
        return {}
    run_cutoff, audit_cutoff = cutoffs(ws)
    conn = session.connection()
    runs = conn.execute(select(func.count()).select_from(runs_t).where(_run_cutoff_where(ws.id, run_cutoff))).scalar()
    audit_rows = conn.execute(select(func.count()).select_from(audit_t)
                              .where(_audit_cutoff_where(ws.id, audit_cutoff))).scalar()
    duty = session.get(DutyRun, DUTY)
    last = as_aware(duty.last_finished_at) if duty and duty.last_finished_at else None
    interval = timedelta(seconds=get_settings().retention_interval_seconds)
    return {
        "retention_days": ws.retention_days, "audit_retention_days": ws.audit_retention_days,
        "run_cutoff": run_cutoff.isoformat(), "audit_cutoff": audit_cutoff.isoformat(),
        "runs_to_prune": int(runs or 0), "audit_rows_to_prune": int(audit_rows or 0),
        "last_run_at": last.isoformat() if last else None,
        "last_run": duty.details if duty else None,
        "interval_seconds": interval.total_seconds(),
        "next_run_at": (last + interval).isoformat() if last else None,
    }


def set_audit_retention(session: Session, actor: Actor, days: Any) -> Workspace:
    """Change how long audit rows are kept (admin or owner; 90 to 3650 days)."""
    actor.require(Role.admin)
    try:
        value = int(days)
    except (TypeError, ValueError):
        value = 0
    if not MIN_AUDIT_DAYS <= value <= MAX_AUDIT_DAYS:
        raise ValidationFailed("invalid audit retention", {
            "audit_retention_days": f"must be a whole number from {MIN_AUDIT_DAYS} to {MAX_AUDIT_DAYS}"})
    ws = session.get(Workspace, actor.workspace_id)
    if ws is None:
        raise ValidationFailed("workspace not found", {"workspace": "not found"})
    if ws.audit_retention_days != value:
        audit.record(session, actor, "workspace.update", "workspace", ws.id,
                     {"before": {"audit_retention_days": ws.audit_retention_days},
                      "after": {"audit_retention_days": value}})
        ws.audit_retention_days = value
        session.add(ws)
    return ws
