"""What a flow.* action may do to its run, handed to it as ``ctx.flow`` (actions never import
services): create the approval row, register and read its resume URL, start and read a child
run. Each method writes in its own short transaction; the executor parks the run afterwards.

Waking: a decision, a POST to a resume URL, or a child's end moves the parked run's next
attempt to now and enqueues it (engine.services.wakeups). A decision that lands between the
step's check and the park would find the run still running and its wake-up would be lost, so
after parking the executor re-checks every wait it parked on (:func:`recheck_waits`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine.db import as_aware, get_engine
from engine.errors import NotFound, PermanentError, QuotaExceeded
from engine.models import Run, RunStatus, Workflow
from engine.queue import enqueue_run
from engine.services import approvals, waits
from engine.services.wakeups import wake_now
from engine.states import TERMINAL_RUN_STATES

runs_t = Run.__table__
#: A waiting parent looks at its child at least this often (a lost wake-up costs at most this).
CHILD_POLL_S = 300.0
CALL_TRIGGER = "call"


def register_resume_url(run_id: str, path: str) -> str:
    """The resume URL of ``path`` in ``run_id``, its token row created if new (status pending)."""
    with get_engine().begin() as conn:
        token = waits.register(conn, run_id, path)
    return waits.resume_url_of(token)


def notify_parent(parent_run_id: str) -> None:
    """A child run ended: wake its parent if it waits."""
    with get_engine().begin() as conn:
        woken = wake_now(conn, parent_run_id)
    if woken:
        enqueue_run(parent_run_id)


def recheck_waits(handles: list[FlowHandle]) -> None:
    """After the park committed: a wait already resolved wakes the run now."""
    if any(handle.resolved() for handle in handles):
        run_id = handles[0].run_id
        with get_engine().begin() as conn:
            woken = wake_now(conn, run_id)
        if woken:
            enqueue_run(run_id)


def run_depth(conn: Any, run_id: str | None) -> int:
    """How deep ``run_id`` is in its call chain (a run nobody called is 1)."""
    depth = 0
    while run_id and depth < 50:
        depth += 1
        run_id = conn.execute(select(runs_t.c.parent_run_id).where(runs_t.c.id == run_id)).scalar()
    return depth


class FlowHandle:
    """One step execution's flow operations (``ctx.flow``)."""

    def __init__(self, runner: Any, path: str, step: dict[str, Any], siblings: list[dict[str, Any]],
                 index: int) -> None:
        self.runner = runner
        self.path = path
        self.step = step
        self.siblings = siblings
        self.index = index
        self.run_id: str = runner.run_row["id"]
        self.workspace_id: str = runner.run_row["workspace_id"]
        #: What the step parked on ("approval", "event", "child"), for the re-check after parking.
        self.watching: str | None = None

    # -- approvals ------------------------------------------------------------------------------

    def approval(self, *, message: str, approver_role: str, expires_at: datetime) -> dict[str, Any]:
        with get_engine().begin() as conn:
            return approvals.create(conn, workspace_id=self.workspace_id, run_id=self.run_id, step_path=self.path,
                                    message=message, approver_role=approver_role, expires_at=expires_at)

    def approval_state(self) -> dict[str, Any] | None:
        with get_engine().connect() as conn:
            return approvals.state_of(conn, self.run_id, self.path)

    def expire_approval(self) -> None:
        with get_engine().begin() as conn:
            approvals.expire(conn, self.run_id, self.path)

    def next_step_checks(self, fragment: str) -> bool:
        """True if the step right after this one has a ``when`` mentioning ``fragment`` (a
        rejection then goes on to it instead of failing the run)."""
        if self.index + 1 >= len(self.siblings):
            return False
        return fragment in (self.siblings[self.index + 1].get("when") or "")

    # -- events ---------------------------------------------------------------------------------

    def wait(self, *, expires_at: datetime) -> dict[str, Any]:
        """Start waiting (the token row moves to ``waiting``); returns the row's state."""
        with get_engine().begin() as conn:
            waits.register(conn, self.run_id, self.path, status=waits.WAITING, expires_at=expires_at)
            return waits.state_of(conn, self.run_id, self.path) or {}

    def wait_state(self) -> dict[str, Any] | None:
        with get_engine().connect() as conn:
            return waits.state_of(conn, self.run_id, self.path)

    def expire_wait(self) -> None:
        with get_engine().begin() as conn:
            waits.expire(conn, self.run_id, self.path)

    def resume_url(self) -> str:
        return register_resume_url(self.run_id, self.path)

    # -- child runs -----------------------------------------------------------------------------

    def child(self) -> dict[str, Any] | None:
        """The run this step started (id, status, error, result), or None."""
        from engine.services.runs import run_result, run_steps

        with get_engine().connect() as conn:
            row = conn.execute(select(runs_t.c.id).where(runs_t.c.parent_run_id == self.run_id,
                                                         runs_t.c.parent_path == self.path)).first()
        if row is None:
            return None
        from engine.db import session_scope

        with session_scope() as session:
            child = session.get(Run, row[0])
            if child is None:
                return None
            out = {"id": child.id, "status": child.status, "error": child.error, "result": None}
            if child.status == RunStatus.succeeded.value:
                out["result"] = run_result(run_steps(session, child))
            return out

    def call(self, *, workflow_id: str, payload: Any, max_depth: int) -> str:
        """Start the child run (same workspace; at most ``max_depth`` runs deep). Idempotent:
        a retried step finds the child it started."""
        from engine.services.runs import RunRequest, start_run

        with get_engine().connect() as conn:
            found = conn.execute(select(Workflow.__table__.c.id).where(
                Workflow.__table__.c.id == workflow_id, Workflow.__table__.c.workspace_id == self.workspace_id)).first()
            depth = run_depth(conn, self.run_id)
        if found is None:
            raise PermanentError(f"workflow {workflow_id!r} not found in this workspace")
        if depth + 1 > max_depth:
            raise PermanentError(f"calls nest at most {max_depth} runs deep: this run is at depth {depth}, "
                                 f"so its child would be at depth {depth + 1}")
        try:
            started = start_run(RunRequest(
                workflow_id=workflow_id, workspace_id=self.workspace_id, trigger_type=CALL_TRIGGER,
                payload={"payload": payload, "parent_run_id": self.run_id},
                idempotency_key=f"call:{self.run_id}:{self.path}"[:255],
                parent_run_id=self.run_id, parent_path=self.path,
            ))
        except NotFound:
            raise PermanentError(f"workflow {workflow_id!r} not found in this workspace") from None
        except QuotaExceeded as exc:
            raise PermanentError(str(exc)) from None
        return started.id

    # -- after parking ---------------------------------------------------------------------------

    def watch(self, kind: str) -> None:
        self.watching = kind

    def resolved(self) -> bool:
        """Has what this step waits for happened (re-checked once the park committed)?"""
        if self.watching == "approval":
            state = self.approval_state()
            return bool(state) and state["status"] != approvals.ApprovalStatus.pending.value
        if self.watching == "event":
            state = self.wait_state()
            return bool(state) and state["status"] == waits.RESUMED
        if self.watching == "child":
            child = self.child()
            return bool(child) and RunStatus(child["status"]) in TERMINAL_RUN_STATES
        return False


def expired(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and as_aware(deadline) <= now
