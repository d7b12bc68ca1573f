"""Background threads that keep runs alive and never lost: heartbeat and sweeper.

- heartbeat: renews the lease of every run this process holds (engine.executor.RUNTIME);
- sweeper: re-enqueues queued runs nobody picked up, waiting runs whose time has come, and runs
  whose worker died (lease expired); also forgets 24-hour-old webhook idempotency keys.
Both are idempotent: claiming a run is a conditional UPDATE, so a duplicate message is harmless.
Every time comparison uses the database's clock (engine.db.db_clock), as the leases do.
"""

from __future__ import annotations

import threading

import structlog
from sqlalchemy import and_, or_, select, update

from engine.config import get_settings
from engine.db import db_clock, get_engine, session_scope
from engine.models import Run
from engine.states import RunStatus, sweepable

log = structlog.get_logger("flowmate.maintenance")
runs_t = Run.__table__
_stop = threading.Event()
_threads: list[threading.Thread] = []


def sweep_once(limit: int = 500) -> int:
    """Re-enqueue every run that should be executing but may have no message. Returns count.

    A queued run is re-enqueued at most once per grace period across ALL sweepers: the sweep
    stamps ``next_attempt_at`` (unused by the claim of a queued run, which clears it) in the same
    conditional UPDATE that picks the run. Re-enqueueing every old queued run on every sweep,
    from every worker process, flooded a backlogged queue with duplicates faster than workers
    could discard them, so a backlog (after a Redis restart, say) never drained (bench/soak.py).
    """
    from engine.queue import enqueue_run

    settings = get_settings()
    grace = {"minus_grace": -settings.queued_grace_seconds}
    # Queued runs nobody picked up: stamp next_attempt_at (a claim ignores and clears it), so that
    # across every sweeper (the scheduler and each worker) one is re-enqueued at most once per
    # grace period instead of once per sweeper per sweep (a Redis restart otherwise floods the queue).
    stale_queued = and_(runs_t.c.status == RunStatus.queued.value, runs_t.c.created_at < db_clock("minus_grace"),
                        or_(runs_t.c.next_attempt_at.is_(None), runs_t.c.next_attempt_at < db_clock("minus_grace")))
    with get_engine().begin() as conn:
        picked = select(runs_t.c.id).where(stale_queued).limit(limit).scalar_subquery()
        ids = [r for (r,) in conn.execute(
            update(runs_t).where(runs_t.c.id.in_(picked), stale_queued).values(next_attempt_at=db_clock(0.0))
            .returning(runs_t.c.id), grace)]
    with get_engine().connect() as conn:
        ids += [r for (r,) in conn.execute(
            select(runs_t.c.id).where(
                sweepable(runs_t.c, now=db_clock(0.0), grace_until=db_clock("minus_grace")),
                runs_t.c.status != RunStatus.queued.value,  # handled (once) above
            ).limit(limit), grace
        )]
    for run_id in ids:
        enqueue_run(run_id)
    if ids:
        log.info("sweeper.requeued", count=len(ids))
    return len(ids)


def expire_keys() -> None:
    from engine.services.runs import expire_idempotency_keys

    with session_scope() as session:
        expire_idempotency_keys(session)
    from engine.ratelimit import expire_replay_markers

    expire_replay_markers()


def heartbeat() -> None:
    """Renew held leases and, in a process that runs worker threads, report it alive."""
    from engine import queue
    from engine.executor import renew_leases

    renew_leases()
    if queue._embedded_worker is not None:
        from engine.liveness import beat

        beat()


def _loop(name: str, interval: float, func) -> None:  # noqa: ANN001
    ticks = 0
    while not _stop.wait(interval):
        ticks += 1
        try:
            func()
            if name == "sweeper" and ticks % 240 == 0:
                expire_keys()
        except Exception:
            log.exception(f"{name}.error")


def start_background_threads(scheduler: bool = False) -> None:
    """Start heartbeat and sweeper (and optionally the cron scheduler) as daemon threads."""
    from engine import queue

    if queue._embedded_worker is not None:  # report a new worker alive at once, not after a beat
        try:
            from engine.liveness import beat

            beat()
        except Exception:
            log.exception("heartbeat.error")
    if _threads:
        return
    _stop.clear()
    settings = get_settings()
    from engine.services.usage import flush_usage

    specs = [("heartbeat", settings.heartbeat_seconds, heartbeat), ("usage", 1.0, flush_usage),
             ("sweeper", settings.sweep_interval_seconds, sweep_once)]
    from engine.services.exports import run_export_duty
    from engine.services.retention import run_retention_duty

    specs += [("exports", settings.export_poll_seconds, run_export_duty),
              ("retention", settings.retention_interval_seconds, run_retention_duty)]
    if scheduler:
        from engine.scheduler import tick

        specs.append(("scheduler", settings.scheduler_interval_seconds, tick))
    from engine.services.audit_stream import deliver_streams

    specs.append(("audit-stream", settings.audit_stream_interval_seconds, deliver_streams))
    for name, interval, func in specs:
        thread = threading.Thread(target=_loop, args=(name, interval, func), name=f"flowmate-{name}", daemon=True)
        thread.start()
        _threads.append(thread)


def stop_background_threads() -> None:
    from engine.services.usage import flush_usage

    _stop.set()
    for thread in _threads:
        thread.join(timeout=5)
    _threads.clear()
    try:
        flush_usage()
    except Exception:
        log.exception("usage.flush_failed")
