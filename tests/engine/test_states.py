"""The state machine table (engine.states) and the statements that must agree with it.

Table tests need no database; the claim, sweep and cancel tests write one run per state (with
every due/expired time in the past, so only the state decides) and check that the real statements
pick exactly the states the table names, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from dramatiq import Message

from engine import states
from engine.db import get_engine, session_scope, utcnow
from engine.errors import Conflict
from engine.models import Run, new_id
from engine.services.actor import Actor
from engine.services.workflows import create_workflow
from engine.states import (
    ACTIVE_RUN_STATES,
    CANCELLABLE_RUN_STATES,
    CLAIMABLE_RUN_STATES,
    RUN_TRANSITIONS,
    STEP_TRANSITIONS,
    TERMINAL_RUN_STATES,
    ExecOutcome,
    IllegalTransition,
    RunStatus,
    StepStatus,
)

RUN_PAIRS = list(itertools.product(RunStatus, RunStatus))
STEP_PAIRS = list(itertools.product([None, *StepStatus], StepStatus))


@pytest.mark.parametrize(("old", "new"), [p for p in RUN_PAIRS if p[1] in RUN_TRANSITIONS[p[0]]],
                         ids=lambda s: str(s))
def test_every_allowed_run_transition_works(old: RunStatus, new: RunStatus) -> None:
    assert states.check_run_transition(old.value, new.value) is new


@pytest.mark.parametrize(("old", "new"), [p for p in RUN_PAIRS if p[1] not in RUN_TRANSITIONS[p[0]]],
                         ids=lambda s: str(s))
def test_every_forbidden_run_transition_raises(old: RunStatus, new: RunStatus) -> None:
    with pytest.raises(IllegalTransition) as err:
        states.check_run_transition(old, new)
    assert old.value in str(err.value) and new.value in str(err.value)
    assert isinstance(err.value, Conflict)  # the API answers it as 409


@pytest.mark.parametrize(("old", "new"), STEP_PAIRS, ids=lambda s: str(s))
def test_step_transitions_follow_the_table(old: StepStatus | None, new: StepStatus) -> None:
    if new in STEP_TRANSITIONS[old]:
        assert states.check_step_transition(old, new) is new
    else:
        with pytest.raises(IllegalTransition):
            states.check_step_transition(old, new)


def test_sets_partition_the_states() -> None:
    assert set(RunStatus) == TERMINAL_RUN_STATES | ACTIVE_RUN_STATES
    assert not TERMINAL_RUN_STATES & ACTIVE_RUN_STATES
    assert all(not RUN_TRANSITIONS[s] for s in TERMINAL_RUN_STATES)  # finished runs never move
    assert all(RUN_TRANSITIONS[s] for s in ACTIVE_RUN_STATES)
    assert {RunStatus.queued, RunStatus.waiting, RunStatus.running} == CLAIMABLE_RUN_STATES
    assert CANCELLABLE_RUN_STATES == ACTIVE_RUN_STATES
    assert all(RunStatus(s).finished for s in TERMINAL_RUN_STATES)
    assert {s for s in StepStatus if s.finished} == {StepStatus.succeeded, StepStatus.failed, StepStatus.skipped}


def test_outcomes_name_run_states() -> None:
    assert ExecOutcome.waiting.run_status is RunStatus.waiting
    assert ExecOutcome.stopped.run_status is RunStatus.succeeded
    assert ExecOutcome.lease_lost.run_status is None and ExecOutcome.not_claimed.run_status is None
    # Every outcome that is a run state is spelled exactly as that state.
    assert {o.value for o in ExecOutcome} & set(RunStatus) == {"succeeded", "waiting", "failed"}


def test_api_and_ui_derive_from_the_table() -> None:
    from typing import get_args

    from flowmate_app.api.schemas import RunSummary

    assert set(get_args(RunSummary.model_fields["status"].annotation)) == {s.value for s in RunStatus}
    from flowmate_app.components.ui import STATUS_COLOURS

    assert set(STATUS_COLOURS) == {s.value for s in RunStatus} | {s.value for s in StepStatus}


# --- statements against a real database -----------------------------------------------------


def _runs_in_every_state(workspace: dict[str, str]) -> dict[str, RunStatus]:
    """One run per state, long past every due time and lease, so only the state decides."""
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        wf = create_workflow(session, actor, {"name": "States", "steps": [
            {"key": "log", "action": "core.log", "config": {"message": "hi"}}]})
        wf_id = wf.id
    long_ago = utcnow() - timedelta(hours=2)
    by_id: dict[str, RunStatus] = {}
    with get_engine().begin() as conn:
        for status in RunStatus:
            run_id = new_id()
            conn.execute(Run.__table__.insert(), {
                "id": run_id, "workspace_id": workspace["id"], "workflow_id": wf_id, "workflow_version": 1,
                "definition": {"name": "States", "steps": []}, "status": status.value, "trigger_type": "manual",
                "trigger_payload": {}, "attempt": 0, "created_at": long_ago, "next_attempt_at": long_ago,
                "lease_owner": "dead-worker", "lease_expires_at": long_ago,
            })
            by_id[run_id] = status
    return by_id


def test_claim_takes_exactly_the_claimable_states(any_db: str, workspace: dict[str, str]) -> None:
    from engine.executor import Executor

    by_id = _runs_in_every_state(workspace)
    executor = Executor()
    claimed = set()
    for run_id, status in by_id.items():
        with get_engine().begin() as conn:
            if executor.claim(conn, run_id) is not None:
                claimed.add(status)
    assert claimed == CLAIMABLE_RUN_STATES


def test_claim_respects_due_time_and_live_lease(any_db: str, workspace: dict[str, str]) -> None:
    from engine.executor import Executor

    by_id = _runs_in_every_state(workspace)
    soon = utcnow() + timedelta(minutes=5)
    with get_engine().begin() as conn:
        conn.execute(Run.__table__.update().values(next_attempt_at=soon, lease_expires_at=soon))
    claimed = set()
    for run_id, status in by_id.items():
        with get_engine().begin() as conn:
            if Executor().claim(conn, run_id) is not None:
                claimed.add(status)
    assert claimed == {RunStatus.queued}  # a waiting run not yet due and a live lease are left alone


def test_sweeper_selects_exactly_the_active_states(any_db: str, workspace: dict[str, str]) -> None:
    from engine.maintenance import sweep_once
    from engine.queue import QUEUE_NAME, setup_broker

    by_id = _runs_in_every_state(workspace)
    broker = setup_broker()  # the embedded StubBroker: no worker consumes, so messages stay queued
    assert sweep_once() == len(ACTIVE_RUN_STATES)
    queue = broker.queues[QUEUE_NAME]
    sent = [Message.decode(raw).args[0] for raw in list(queue.queue)]
    assert {by_id[run_id] for run_id in sent} == ACTIVE_RUN_STATES


def test_cancel_accepts_exactly_the_cancellable_states(any_db: str, workspace: dict[str, str]) -> None:
    from engine.services.runs import cancel_run

    by_id = _runs_in_every_state(workspace)
    actor = Actor.system(workspace["id"])
    cancelled, refused = set(), set()
    for run_id, status in by_id.items():
        try:
            with session_scope() as session:
                assert cancel_run(session, actor, run_id).status == RunStatus.cancelled
            cancelled.add(status)
        except Conflict:
            refused.add(status)
    assert cancelled == CANCELLABLE_RUN_STATES
    assert refused == TERMINAL_RUN_STATES
