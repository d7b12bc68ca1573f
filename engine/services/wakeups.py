"""Wake a parked run now: an approval was decided, a resume URL was POSTed, a child finished.

A waiting step parks its run with ``next_attempt_at`` at its deadline (the timeout), holding
no worker. Waking moves ``next_attempt_at`` to now in the caller's transaction and sends a
queue message once that transaction has committed. If the message is lost, the run is due
anyway and the sweeper re-enqueues it (the lost wake-up is recovered, only later).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, update

from engine.db import db_clock
from engine.models import Run, RunStatus
from engine.queue import enqueue_run


def wake(session: Any, run_id: str, workspace_id: str | None = None) -> bool:
    """Make a waiting run due now; enqueue it after ``session`` commits. True if it was waiting."""
    result = session.connection().execute(
        update(Run.__table__).where(Run.__table__.c.id == run_id, Run.__table__.c.status == RunStatus.waiting.value)
        .values(next_attempt_at=db_clock(0.0))
    )
    # Enqueue even when the run was not waiting yet (it is between its park and our update, or
    # running): the executor re-checks the wait when it runs, and a spare message is harmless.
    event.listen(session, "after_commit", lambda _s: enqueue_run(run_id, workspace_id=workspace_id), once=True)
    return bool(result.rowcount)


def wake_now(conn: Any, run_id: str) -> bool:
    """:func:`wake` on a Core connection inside the caller's ``begin()`` block; the caller
    enqueues after its commit."""
    result = conn.execute(
        update(Run.__table__).where(Run.__table__.c.id == run_id, Run.__table__.c.status == RunStatus.waiting.value)
        .values(next_attempt_at=db_clock(0.0))
    )
    return bool(result.rowcount)
