"""The run and step state machine: the one place that says which states exist and how they move.

Everything that reads or writes a state derives from this table: the executor's claim statement,
the sweeper's query, cancelling, the API schema, the CLI's "is it finished?" check and the UI
badges. A transition the table does not list raises :class:`IllegalTransition`.

Run lifecycle::

    queued ──claim──▶ running ──▶ succeeded | failed
      │                 │  ▲
      │                 ▼  │ claim when due (retry delay, core.delay)
      │              waiting
      └────────┬────────┘
               ▼
           cancelled          (from any active state, by a person)

``running → running`` is the take-over of a run whose worker died (its lease expired).

The SQL helpers take the ``run`` table's columns as an argument instead of importing the model,
so this module sits at the bottom of the layer order next to ``engine.models``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from engine.errors import Conflict


class RunStatus(StrEnum):
    """Where a run is in its life (stored in ``run.status``)."""

    queued = "queued"
    running = "running"
    waiting = "waiting"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in TERMINAL_RUN_STATES

    @property
    def active(self) -> bool:
        return self in ACTIVE_RUN_STATES


class StepStatus(StrEnum):
    """Where one step of a run is (stored in ``steprun.status``)."""

    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"

    @property
    def finished(self) -> bool:
        return self in TERMINAL_STEP_STATES


#: Runs that will never change again.
TERMINAL_RUN_STATES: frozenset[RunStatus] = frozenset({RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled})
#: Runs that still have work to do (a worker holds them, or one will pick them up).
ACTIVE_RUN_STATES: frozenset[RunStatus] = frozenset({RunStatus.queued, RunStatus.running, RunStatus.waiting})
#: Steps that will never run again; a resumed run skips past ``STEP_DONE_STATES``.
TERMINAL_STEP_STATES: frozenset[StepStatus] = frozenset(
    {StepStatus.succeeded, StepStatus.failed, StepStatus.skipped})
STEP_DONE_STATES: frozenset[StepStatus] = frozenset({StepStatus.succeeded, StepStatus.skipped})

#: The allowed run transitions: state → states it may move to.
RUN_TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    RunStatus.queued: frozenset({RunStatus.running, RunStatus.cancelled}),
    RunStatus.running: frozenset({RunStatus.running, RunStatus.waiting, RunStatus.succeeded, RunStatus.failed,
                                  RunStatus.cancelled}),
    RunStatus.waiting: frozenset({RunStatus.running, RunStatus.cancelled}),
    RunStatus.succeeded: frozenset(),
    RunStatus.failed: frozenset(),
    RunStatus.cancelled: frozenset(),
}

#: The allowed step transitions. A step row is first written either as ``running`` (before a side
#: effect) or directly in its outcome, so ``None`` (no row yet) is a source state too.
STEP_TRANSITIONS: Mapping[StepStatus | None, frozenset[StepStatus]] = {
    None: frozenset({StepStatus.running, StepStatus.pending, StepStatus.succeeded, StepStatus.failed,
                     StepStatus.skipped}),
    StepStatus.pending: frozenset({StepStatus.running, StepStatus.pending, StepStatus.succeeded, StepStatus.failed,
                                   StepStatus.skipped}),
    # running → running: a suspended step (core.delay) records its resume time and stays running.
    StepStatus.running: frozenset({StepStatus.running, StepStatus.pending, StepStatus.succeeded,
                                   StepStatus.failed}),
    StepStatus.succeeded: frozenset(),
    StepStatus.failed: frozenset(),
    StepStatus.skipped: frozenset(),
}


class IllegalTransition(Conflict):
    """A state change the table does not allow (answered as 409 Conflict by the API)."""

    def __init__(self, kind: str, old: str | None, new: str):
        super().__init__(f"a {kind} cannot go from {old or 'nothing'} to {new}")
        self.old, self.new = old, new


def check_run_transition(old: RunStatus | str, new: RunStatus | str) -> RunStatus:
    """Return ``new`` as a RunStatus when ``old → new`` is allowed; raise IllegalTransition if not."""
    old_s, new_s = RunStatus(old), RunStatus(new)
    if new_s not in RUN_TRANSITIONS[old_s]:
        raise IllegalTransition("run", old_s.value, new_s.value)
    return new_s


def check_step_transition(old: StepStatus | str | None, new: StepStatus | str) -> StepStatus:
    """Return ``new`` as a StepStatus when ``old → new`` is allowed; raise IllegalTransition if not."""
    old_s, new_s = (StepStatus(old) if old is not None else None), StepStatus(new)
    if new_s not in STEP_TRANSITIONS[old_s]:
        raise IllegalTransition("step", old_s.value if old_s else None, new_s.value)
    return new_s


def sources(target: RunStatus) -> frozenset[RunStatus]:
    """Every run state that may move to ``target`` (what a conditional UPDATE's WHERE allows)."""
    return frozenset(s for s, targets in RUN_TRANSITIONS.items() if target in targets)


#: States a person may cancel: every state with an edge to ``cancelled``.
CANCELLABLE_RUN_STATES: frozenset[RunStatus] = sources(RunStatus.cancelled)
#: States a worker may claim (move to running). Each one has its own "is it due?" rule below.
CLAIMABLE_RUN_STATES: frozenset[RunStatus] = sources(RunStatus.running)
#: States the executor finishes or parks from: only a run it holds.
HELD_RUN_STATE = RunStatus.running


def claimable(c: Any, *, due: Any, now: Any) -> ColumnElement[bool]:
    """SQL: the run may be claimed now. ``c`` is ``run.__table__.c``; ``due``/``now`` are datetimes
    or bind parameters.

    - queued: always;
    - waiting: once its next attempt is due;
    - running: only when its lease expired (the worker died), a take-over.
    """
    rules = {
        RunStatus.queued: c.status == RunStatus.queued.value,
        RunStatus.waiting: and_(c.status == RunStatus.waiting.value, c.next_attempt_at <= due),
        RunStatus.running: and_(c.status == RunStatus.running.value, c.lease_expires_at < now),
    }
    assert set(rules) == CLAIMABLE_RUN_STATES, "a claimable state without a claim rule"
    return or_(*(rules[s] for s in sorted(CLAIMABLE_RUN_STATES)))


def sweepable(c: Any, *, now: Any, grace_until: Any) -> ColumnElement[bool]:
    """SQL: an active run that may have no queue message (the sweeper re-enqueues it).

    ``grace_until`` is ``now - grace``: a queued run gets that long to be picked up, a waiting
    run that long past its due time; a running run is swept as soon as its lease expired.
    """
    rules = {
        RunStatus.queued: and_(c.status == RunStatus.queued.value, c.created_at < grace_until),
        RunStatus.waiting: and_(c.status == RunStatus.waiting.value, c.next_attempt_at < grace_until),
        RunStatus.running: and_(c.status == RunStatus.running.value, c.lease_expires_at < now),
    }
    assert set(rules) == ACTIVE_RUN_STATES, "an active state the sweeper would never look at"
    return or_(*(rules[s] for s in sorted(ACTIVE_RUN_STATES)))


def cancellable(c: Any) -> ColumnElement[bool]:
    """SQL: the run may still be cancelled."""
    return c.status.in_(sorted(s.value for s in CANCELLABLE_RUN_STATES))


class ExecOutcome(StrEnum):
    """What the executor did with one run (or one step of it), in the run table's words."""

    succeeded = "succeeded"  # the run (or step) succeeded
    skipped = "skipped"  # the step's `when` was false
    stopped = "stopped"  # a step stopped the run early: the run succeeds
    waiting = "waiting"  # parked until a retry delay or a core.delay ends
    failed = "failed"
    not_claimed = "not-claimed"  # someone else holds it, it finished, or it is not due yet
    lease_lost = "lease-lost"  # cancelled or taken over while executing: stopped without writing
    draining = "draining"  # this worker is shutting down: the run is left for another worker
    deferred = "deferred"  # the workspace is at its concurrency cap here: re-queued for later
    released = "released"  # an infrastructure outage (database, Redis): released to resume later

    @property
    def run_status(self) -> RunStatus | None:
        """The run state this outcome leaves the run in (None: this executor did not decide it)."""
        return {
            ExecOutcome.succeeded: RunStatus.succeeded, ExecOutcome.stopped: RunStatus.succeeded,
            ExecOutcome.waiting: RunStatus.waiting, ExecOutcome.failed: RunStatus.failed,
        }.get(self)


#: Colour and icon of each run/step state in the UI (one ``status_badge`` uses it).
STATUS_STYLE: Mapping[str, tuple[str, str]] = {
    RunStatus.queued: ("gray", "clock"),
    RunStatus.running: ("blue", "loader"),
    RunStatus.waiting: ("amber", "hourglass"),
    RunStatus.succeeded: ("green", "circle_check"),
    RunStatus.failed: ("red", "circle_x"),
    RunStatus.cancelled: ("gray", "ban"),
    StepStatus.pending: ("gray", "circle_dashed"),
    StepStatus.skipped: ("gray", "skip_forward"),
}

RUN_STATUS_VALUES: tuple[str, ...] = tuple(s.value for s in RunStatus)
TERMINAL_RUN_VALUES: tuple[str, ...] = tuple(sorted(s.value for s in TERMINAL_RUN_STATES))
ACTIVE_RUN_VALUES: tuple[str, ...] = tuple(sorted(s.value for s in ACTIVE_RUN_STATES))
