"""PostgreSQL + Redis with real `flowmate worker` and `flowmate scheduler` subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from support import LocalServer, json_response, wait_for

from engine.db import session_scope, utcnow
from engine.models import Run
from engine.services.actor import Actor
from engine.services.runs import run_public, start_manual_run
from engine.services.workflows import create_workflow

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def show(run_id: str) -> dict:
    with session_scope() as session:
        return run_public(session, session.get(Run, run_id))


def wait_finished(run_id: str, timeout: float = 60) -> dict:
    return wait_for(lambda: (r := show(run_id))["status"] in ("succeeded", "failed", "cancelled") and r,
                    timeout=timeout, interval=0.1)


def test_worker_processes_run_three_steps_with_retries(spawn: Callable, workspace: dict,
                                                       server: LocalServer) -> None:
    server.route("/flaky", lambda req: json_response(500, {}) if req["n"] <= 2 else json_response(200, {"n": 7}))
    spawn("worker", "--processes", "2", "--threads", "4")
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        wf = create_workflow(session, actor, {"name": "Chain", "steps": [
            {"key": "get", "action": "http.request", "config": {"url": server.url + "/flaky"},
             "retry": {"max_attempts": 4, "initial_delay_s": 0.3, "factor": 2}},
            {"key": "double", "action": "core.log",
             "config": {"message": "x", "data": "{{ steps.get.output.body.n * 2 }}"}},
            {"key": "say", "action": "core.log", "config": {"message": "{{ steps.double.output.data }} widgets"}},
        ]})
    run = start_manual_run(actor, wf.id, {})
    final = wait_finished(run.id)
    assert final["status"] == "succeeded", final
    assert final["steps"][0]["attempts"] == 3 and len(final["steps"][0]["retry_delays"]) == 2
    assert final["steps"][0]["retry_delays"][1] > final["steps"][0]["retry_delays"][0]
    assert final["steps"][2]["output"]["message"] == "14 widgets"


def test_killed_worker_run_finishes_and_finished_steps_ran_once(spawn: Callable, workspace: dict,
                                                                server: LocalServer) -> None:
    server.route("/first", lambda req: json_response(200, {"ok": 1}))

    def slow(req: dict) -> tuple[int, dict, bytes]:
        if req["n"] == 1:
            time.sleep(30)  # the first worker dies while waiting for this answer
        return json_response(200, {"ok": 2})

    server.route("/slow", slow)
    server.route("/last", lambda req: json_response(200, {"ok": 3}))
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        wf = create_workflow(session, actor, {"name": "Crash", "steps": [
            {"key": "first", "action": "http.request", "config": {"url": server.url + "/first", "method": "POST"}},
            {"key": "slow", "action": "http.request", "config": {"url": server.url + "/slow", "method": "POST"},
             "timeout_s": 60},
            {"key": "last", "action": "http.request", "config": {"url": server.url + "/last", "method": "POST"}},
        ]})
    doomed = spawn("worker", "--threads", "2")
    run = start_manual_run(actor, wf.id, {})
    wait_for(lambda: server.hits.get("/slow", 0) >= 1, timeout=30)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    assert show(run.id)["status"] == "running"
    spawn("worker", "--threads", "2")
    final = wait_finished(run.id, timeout=60)
    assert final["status"] == "succeeded", final
    assert server.hits["/first"] == 1, "a step finished before the crash must not run again"
    assert server.hits["/last"] == 1
    assert server.hits["/slow"] == 2  # the in-flight step is retried on the new worker
    keys = {r["headers"]["Idempotency-Key"] for r in server.requests if r["path"] == "/slow"}
    assert keys == {f"{run.id}:slow"}  # same idempotency key both times, so targets can de-duplicate


def test_two_schedulers_fire_each_minute_tick_exactly_once(spawn: Callable, workspace: dict) -> None:
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        wf = create_workflow(session, actor, {"name": "Every minute", "trigger": {"type": "cron",
                             "config": {"expression": "* * * * *"}},
                             "steps": [{"key": "tick", "action": "core.log", "config": {"message": "tick"}}]})
    start = utcnow()
    spawn("scheduler")
    spawn("scheduler")
    spawn("worker", "--threads", "2")
    boundary = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    wait_seconds = (boundary - utcnow()).total_seconds() + 4
    time.sleep(max(0.0, wait_seconds))

    def runs() -> list[Run]:
        with session_scope() as session:
            return list(session.exec(select(Run).where(Run.workflow_id == wf.id)).all())

    fired = wait_for(lambda: runs(), timeout=10)
    time.sleep(2)
    fired = runs()
    assert len(fired) == 1, [r.idempotency_key for r in fired]
    assert fired[0].idempotency_key == f"cron:{boundary.isoformat()}"
    assert fired[0].trigger_payload == {"scheduled_at": boundary.isoformat()}
    final = wait_finished(fired[0].id, timeout=20)
    assert final["status"] == "succeeded"


def _proc(pid: int, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_text()


def _nice_of(pid: int) -> int:
    fields = _proc(pid, "stat").rsplit(")", 1)[1].split()
    return int(fields[16])  # field 19 of stat: fields[0] is field 3 (state)


def _children(pid: int) -> list[int]:
    return [int(c) for c in _proc(pid, f"task/{pid}/children").split()]


def test_workers_yield_cpu_to_web_intake_by_default(spawn: Callable) -> None:
    """Started as a service (own session), workers lower their priority and their session's
    autogroup, so the web server keeps the CPU it needs; the caller's priority is untouched."""
    own_nice = os.getpriority(os.PRIO_PROCESS, 0)
    parent = spawn("worker", "--processes", "2", "--threads", "1")
    children = wait_for(lambda: len(c := _children(parent.pid)) >= 2 and c, timeout=30)  # + resource tracker
    wait_for(lambda: _proc(parent.pid, "autogroup").endswith(" nice 10\n"), timeout=30)
    for pid in [parent.pid, *children]:
        assert _nice_of(pid) == 10
        assert _proc(pid, "autogroup").endswith(" nice 10\n")
    assert os.getpriority(os.PRIO_PROCESS, 0) == own_nice

    plain = spawn("worker", "--nice", "0", "--threads", "1")
    time.sleep(1.5)
    assert plain.poll() is None
    assert _nice_of(plain.pid) == own_nice
    assert _proc(plain.pid, "autogroup").endswith(" nice 0\n")


def test_worker_refuses_an_out_of_range_nice(cluster_env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "engine.cli", "worker", "--nice", "25"], env=cluster_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--nice: must be between 0 and 19" in done.stderr
