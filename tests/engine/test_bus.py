"""The live change bus (engine/bus.py): what a run publishes, in-process and through Redis.

Subscribers (the web app's live pages) re-read on these messages, so they must arrive for every
state change of a run and its steps, and they must never carry what the run processed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support import wait_for

from engine import bus
from engine.db import session_scope
from engine.services.actor import Actor
from engine.services.runs import start_manual_run
from engine.services.workflows import create_workflow

SECRET_LOOKING = "lead-4411@example.com.au"
DEFINITION = {
    "name": "Bus",
    "steps": [
        {"key": "shape", "action": "data.transform", "config": {"mapping": {"email": "{{ trigger.payload.email }}"}}},
        {"key": "note", "action": "core.log", "config": {"message": "hi {{ steps.shape.output.email }}"}},
    ],
}


class Collector:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, message: dict) -> None:
        with self._lock:
            self.messages.append(message)

    def of(self, run_id: str) -> list[dict]:
        with self._lock:
            return [m for m in self.messages if m.get("run_id") == run_id]


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()
    unsubscribe = bus.subscribe(found)
    yield found
    unsubscribe()


def _run(workspace: dict) -> str:
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        wf = create_workflow(session, actor, DEFINITION)
        wf_id = wf.id
    return start_manual_run(actor, wf_id, {"email": SECRET_LOOKING}).id


def _check_messages(collector: Collector, run_id: str, workspace: dict) -> None:
    def finished() -> list[dict] | None:
        got = collector.of(run_id)
        return got if any(m["kind"] == "run" and m["status"] == "succeeded" for m in got) else None

    got = wait_for(finished, timeout=30)
    run_statuses = [m["status"] for m in got if m["kind"] == "run"]
    assert run_statuses[0] == "queued" and "running" in run_statuses and run_statuses[-1] == "succeeded"
    assert all(m["workspace_id"] == workspace["id"] for m in got)
    assert all(set(m) <= set(bus.FIELDS) for m in got), got
    assert SECRET_LOOKING not in repr(got)  # ids and statuses only, never what the run processed


def test_a_run_publishes_its_changes_in_process(sqlite_db: str, workspace: dict, collector: Collector,
                                                start_runtime: Any) -> None:
    assert type(bus.get_bus()) is bus.LocalBus
    start_runtime(threads=2)
    _check_messages(collector, _run(workspace), workspace)


def test_a_run_publishes_through_redis(pg_db: str, redis_env: dict, workspace: dict,
                                       collector: Collector) -> None:
    """Redis configured: the worker executing the run and the listener are wired only through
    Redis pub/sub (the listener's callback runs on the bus thread)."""
    from engine.executor import Executor

    assert isinstance(bus.get_bus(), bus.RedisBus)
    # Let the listener thread subscribe before anything is published (pub/sub keeps no history).
    wait_for(lambda: _subscribed(redis_env), timeout=10)
    run_id = _run(workspace)
    Executor().execute(run_id)  # what a worker process does with the queue message
    _check_messages(collector, run_id, workspace)


def _subscribed(env: dict) -> bool:
    import redis

    client = redis.Redis.from_url(env["FLOWMATE_REDIS_URL"])
    channel = f"{env['FLOWMATE_REDIS_NAMESPACE']}:live"
    return bool(dict(client.pubsub_numsub(channel)).get(channel.encode()))


def test_publish_keeps_only_ids_statuses_and_counts() -> None:
    local = bus.LocalBus()
    got: list[dict] = []
    local.subscribe(got.append)
    local.publish(bus._clean({"kind": "step", "run_id": "r1", "status": "failed", "attempts": 2,
                              "error": "smtp said no to bob@example.com", "output": {"x": 1}}))
    assert got == [{"kind": "step", "run_id": "r1", "status": "failed", "attempts": 2}]


def test_a_redis_outage_never_slows_or_fails_the_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    from support import free_port

    from engine.config import get_settings

    monkeypatch.setenv("FLOWMATE_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    get_settings.cache_clear()
    bus.reset_bus()
    try:
        t0 = time.monotonic()
        for _ in range(50):  # a run's worth of writes
            bus.run_changed("r1", "running", workspace_id="w1")
        assert time.monotonic() - t0 < 5  # one failed connect, then quiet: not 50 connect timeouts
    finally:
        bus.reset_bus()
        get_settings.cache_clear()


def test_many_messages_arrive_in_order_through_redis(redis_env: dict) -> None:
    """Publishing hands messages to one publisher thread that pipelines them: a burst of a few
    thousand (a busy worker) reaches a subscriber complete and in publishing order."""
    got = Collector()
    unsubscribe = bus.subscribe(got)
    try:
        wait_for(lambda: _subscribed(redis_env), timeout=10)
        for i in range(3000):
            bus.step_changed("burst", f"s{i}", "succeeded", attempts=1, workspace_id="w1")
        wait_for(lambda: len(got.of("burst")) == 3000 or None, timeout=30)
        assert [m["step_key"] for m in got.of("burst")] == [f"s{i}" for i in range(3000)]
    finally:
        unsubscribe()
