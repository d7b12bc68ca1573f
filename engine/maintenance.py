"""What keeps runs from ever being lost: the sweep, and forgetting expired idempotency keys.

- ``sweep_once`` re-enqueues queued runs nobody picked up, waiting runs whose time has come, and
  runs whose worker died (lease expired);
- ``expire_keys`` forgets 24-hour-old webhook idempotency keys and replay markers.
Both are plain functions: the runtime's duties (engine.duties, started as Dramatiq middleware by
engine.runtime.Runtime) call them on their intervals. The sweep is idempotent: claiming a run is
a conditional UPDATE, so a duplicate message is harmless. Every time comparison uses the
database's clock (engine.db.db_clock), as the leases do.
"""

from __future__ import annotations

import structlog
from sqlalchemy import and_, or_, select, update

from engine.config import get_settings
from engine.db import db_clock, get_engine, session_scope
from engine.models import Run
from engine.queue import enqueue_run
from engine.ratelimit import expire_replay_markers
from engine.services.runs import expire_idempotency_keys
from engine.states import RunStatus, sweepable

log = structlog.get_logger("flowmate.maintenance")
runs_t = Run.__table__


def sweep_once(limit: int = 500) -> int:
    """Re-enqueue every run that should be executing but may have no message. Returns count.

    A queued run is re-enqueued at most once per grace period across ALL sweepers: the sweep
    stamps ``next_attempt_at`` (unused by the claim of a queued run, which clears it) in the same
    conditional UPDATE that picks the run. Re-enqueueing every old queued run on every sweep,
    from every worker process, flooded a backlogged queue with duplicates faster than workers
    could discard them, so a backlog (after a Redis restart, say) never drained (bench/soak.py).
    """
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
    """Forget webhook idempotency keys and signature replay markers past their window."""
    with session_scope() as session:
        expire_idempotency_keys(session)
    expire_replay_markers()
