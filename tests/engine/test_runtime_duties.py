"""The runtime's background duties, one at a time, as Dramatiq middleware on this test's broker.

Each test adds one duty to a stub broker (the ``stub_broker`` fixture) and starts a Dramatiq
worker that consumes no queue, so what the duty enqueues stays in the broker's queue for the
test to read. The worker's boot starts the duty (``after_worker_boot``) and its shutdown stops
it, as in ``flowmate worker``. Database tests run on SQLite and on PostgreSQL (``any_db``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq import Message
from sqlalchemy import select, update
from sqlmodel import select as orm_select
from support import wait_for

from engine.config import get_settings
from engine.db import as_aware, get_engine, session_scope, utcnow
from engine.duties import CronTick, LeaseRenewal, LivenessBeat, PeriodicDuty, Sweeper
from engine.executor import Executor, new_worker_id
from engine.liveness import live_worker_ids
from engine.models import Run, Trigger
from engine.queue import QUEUE_NAME
from engine.services.actor import Actor
from engine.services.runs import create_run
from engine.services.workflows import create_workflow
from engine.states import RunStatus

ROOT = Path(__file__).resolve().parents[2]
runs_t = Run.__table__
STEPS = [{"key": "note", "action": "core.log", "config": {"message": "hi"}}]


@pytest.fixture
def duty_worker(stub_broker: Any) -> Iterator[Any]:
    """``duty_worker(duty)``: add the duty to the broker and boot a worker that consumes nothing."""
    workers: list[dramatiq.Worker] = []

    def boot(duty: PeriodicDuty) -> dramatiq.Worker:
        stub_broker.add_middleware(duty)
        worker = dramatiq.Worker(stub_broker, queues={"no-such-queue"}, worker_threads=1, worker_timeout=50)
        worker.start()
        workers.append(worker)
        return worker

    yield boot
    for worker in workers:
        worker.stop(timeout=2000)


def queued_run_ids(broker: Any) -> list[str]:
    return [Message.decode(raw).args[0] for raw in list(broker.queues[QUEUE_NAME].queue)]


def _workflow(workspace: dict, **extra: Any) -> str:
    with session_scope() as session:
        return create_workflow(session, Actor.system(workspace["id"]), {"name": "Duty", "steps": STEPS, **extra}).id


def _new_run(workspace: dict, workflow_id: str) -> str:
    run, _ = create_run(workflow_id, workspace_id=workspace["id"], trigger_type="manual", payload={}, enqueue=False)
    return run.id


def _row(run_id: str) -> Any:
    with get_engine().connect() as conn:
        return conn.execute(select(runs_t).where(runs_t.c.id == run_id)).mappings().one()


def test_sweeper_requeues_a_run_that_lost_its_message(any_db: str, workspace: dict, stub_broker: Any,
                                                       duty_worker: Any) -> None:
    wf = _workflow(workspace)
    lost, fresh = _new_run(workspace, wf), _new_run(workspace, wf)
    assert lost != fresh
    with get_engine().begin() as conn:  # its message went missing a minute ago
        conn.execute(update(runs_t).where(runs_t.c.id == lost).values(created_at=utcnow() - timedelta(minutes=1)))
    duty = Sweeper(interval=0.05)
    worker = duty_worker(duty)
    assert duty.running
    wait_for(lambda: queued_run_ids(stub_broker))
    worker.stop(timeout=2000)
    assert not duty.running  # stopped with the worker
    assert queued_run_ids(stub_broker) == [lost]  # once (stamped for a grace period), never the fresh one


def test_lease_renewal_extends_held_leases_and_hands_them_back_at_shutdown(
        any_db: str, workspace: dict, stub_broker: Any, duty_worker: Any) -> None:
    wf = _workflow(workspace)
    mine, theirs = _new_run(workspace, wf), _new_run(workspace, wf)
    executor = Executor(get_settings(), worker_id=new_worker_id())
    with get_engine().begin() as conn:
        assert executor.claim(conn, mine) is not None
        conn.execute(update(runs_t).where(runs_t.c.id == theirs).values(
            status=RunStatus.running.value, lease_owner="elsewhere:1:abc", lease_expires_at=utcnow()))
        # both leases about to run out
        conn.execute(update(runs_t).where(runs_t.c.id.in_([mine, theirs])).values(
            lease_expires_at=utcnow() + timedelta(seconds=1)))
    assert executor.leases.admit(mine, workspace["id"], cap=10)
    before = as_aware(_row(theirs)["lease_expires_at"])
    duty = LeaseRenewal(executor, interval=0.05)
    worker = duty_worker(duty)
    horizon = utcnow() + timedelta(seconds=get_settings().lease_seconds / 2)
    wait_for(lambda: as_aware(_row(mine)["lease_expires_at"]) > horizon)
    assert as_aware(_row(theirs)["lease_expires_at"]) == before  # another worker's lease is not ours to renew

    worker.stop(timeout=2000)  # after the worker threads stop: the held run goes back to the queue
    row = _row(mine)
    assert row["status"] == RunStatus.waiting.value and row["lease_owner"] is None
    assert queued_run_ids(stub_broker) == [mine]
    assert _row(theirs)["lease_owner"] == "elsewhere:1:abc"


def test_liveness_beat_reports_the_worker_alive_until_it_stops(stub_broker: Any, duty_worker: Any) -> None:
    worker_id = new_worker_id()
    assert worker_id not in live_worker_ids(stub_broker)
    worker = duty_worker(LivenessBeat(worker_id, stub_broker, get_settings()))
    assert worker_id in live_worker_ids(stub_broker)  # at boot, not after the first heartbeat
    worker.stop(timeout=2000)
    assert worker_id not in live_worker_ids(stub_broker)


def test_liveness_beat_on_redis_is_a_key_with_a_ttl(redis_env: dict[str, str], stub_broker: Any,
                                                    duty_worker: Any) -> None:
    worker_id = new_worker_id()
    duty_worker(LivenessBeat(worker_id, stub_broker, get_settings()))
    assert worker_id in live_worker_ids(stub_broker)
    key = f"{redis_env['FLOWMATE_REDIS_NAMESPACE']}:worker:{worker_id}"
    assert 0 < stub_broker.client.ttl(key) <= 3 * get_settings().heartbeat_seconds  # a killed worker expires


def test_cron_tick_fires_a_due_trigger_once_and_schedules_the_next(any_db: str, workspace: dict,
                                                                    stub_broker: Any, duty_worker: Any) -> None:
    wf = _workflow(workspace, trigger={"type": "cron", "config": {"expression": "* * * * *"}})
    with session_scope() as session:
        trigger = session.exec(orm_select(Trigger).where(Trigger.workflow_id == wf)).one()
        trigger.next_fire_at = utcnow() - timedelta(seconds=5)
        session.add(trigger)
    duty = CronTick(interval=0.05)
    worker = duty_worker(duty)
    run_ids = wait_for(lambda: queued_run_ids(stub_broker))
    worker.stop(timeout=2000)
    with session_scope() as session:
        runs = list(session.exec(orm_select(Run).where(Run.workflow_id == wf)).all())
        next_at = as_aware(session.exec(orm_select(Trigger).where(Trigger.workflow_id == wf)).one().next_fire_at)
    assert [r.id for r in runs] == run_ids  # one run, however many ticks ran
    assert runs[0].trigger_type == "cron" and "scheduled_at" in runs[0].trigger_payload
    assert next_at > utcnow() - timedelta(seconds=1)


def test_the_scheduler_runtime_runs_its_duties_without_a_worker(any_db: str, workspace: dict, stub_broker: Any,
                                                                 start_runtime: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`flowmate scheduler` consumes no queue: the same middleware, started by the runtime itself."""
    monkeypatch.setenv("FLOWMATE_SCHEDULER_INTERVAL_SECONDS", "0.05")
    get_settings.cache_clear()
    wf = _workflow(workspace, trigger={"type": "cron", "config": {"expression": "* * * * *"}})
    with session_scope() as session:
        trigger = session.exec(orm_select(Trigger).where(Trigger.workflow_id == wf)).one()
        trigger.next_fire_at = utcnow() - timedelta(seconds=5)
        session.add(trigger)
    runtime = start_runtime(consume=False, cron=True)
    assert all(duty.running for duty in runtime.duties)
    run_ids = wait_for(lambda: queued_run_ids(stub_broker))
    runtime.stop()
    assert not any(duty.running for duty in runtime.duties)
    assert len(run_ids) == 1 and _row(run_ids[0])["status"] == RunStatus.queued.value  # nobody consumed it


def test_web_processes_never_import_the_executor() -> None:
    """The web app and the services enqueue by actor name; only a runtime loads the executor."""
    code = ("import sys\n"
            "import engine.services.runs, engine.services.system_mail, engine.queue, engine.liveness\n"
            "import flowmate_app.api, flowmate_app.flowmate_app\n"
            "loaded = sorted(m for m in ('engine.executor', 'engine.runtime') if m in sys.modules)\n"
            "print(','.join(loaded))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""
