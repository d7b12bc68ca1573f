"""Runtime hardening against a bad day: skewed clocks, SIGTERM, killed database connections.

Real `flowmate worker` processes on a PostgreSQL database of the test's own and Redis (own key
namespace); the skewed worker runs under libfaketime (Debian's `faketime`), two minutes ahead.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from support import LocalServer, json_response, wait_for

from engine.db import session_scope
from engine.models import Run
from engine.services.actor import Actor
from engine.services.runs import run_public, start_manual_run
from engine.services.workflows import create_workflow

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster_env(pg_db: str, redis_env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **redis_env, "FLOWMATE_DATABASE_URL": pg_db, "FLOWMATE_LEASE_SECONDS": "3",
            "FLOWMATE_HEARTBEAT_SECONDS": "1", "FLOWMATE_SWEEP_INTERVAL_SECONDS": "1",
            "FLOWMATE_QUEUED_GRACE_SECONDS": "2", "FLOWMATE_OUTBOUND_ALLOW": "127.0.0.0/8",
            "FLOWMATE_LOG_FORMAT": "json", "FLOWMATE_WORKER_NICE": "0"}


@pytest.fixture
def spawn(cluster_env: dict[str, str], tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:  # noqa: ANN001
    procs: list[subprocess.Popen] = []

    def start(*args: str, prefix: tuple[str, ...] = (), env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115 - kept for the process's life
        proc = subprocess.Popen([*prefix, sys.executable, "-m", "engine.cli", *args],
                                env={**cluster_env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


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


def _slow_workflow(workspace_id: str, server: LocalServer, first_call_s: float) -> str:
    def slow(req: dict) -> tuple[int, dict, bytes]:
        if req["n"] == 1:
            time.sleep(first_call_s)
        return json_response(200, {"ok": req["n"]})

    server.route("/first", lambda req: json_response(200, {"ok": 1}))
    server.route("/slow", slow)
    server.route("/last", lambda req: json_response(200, {"ok": 3}))
    with session_scope() as session:
        return create_workflow(session, Actor.system(workspace_id), {"name": "Long", "steps": [
            {"key": "first", "action": "http.request", "config": {"url": server.url + "/first", "method": "POST"}},
            {"key": "slow", "action": "http.request",
             "config": {"url": server.url + "/slow", "method": "POST", "timeout_s": 60}, "timeout_s": 90},
            {"key": "last", "action": "http.request", "config": {"url": server.url + "/last", "method": "POST"}},
        ]}).id


def test_a_worker_whose_clock_is_two_minutes_ahead_does_not_take_an_in_flight_step(
        spawn: Callable, workspace: dict, server: LocalServer) -> None:
    if shutil.which("faketime") is None:
        pytest.fail("faketime is not installed (apt-get install -y faketime; .ci/run installs it)")
    wf = _slow_workflow(workspace["id"], server, first_call_s=12)
    spawn("worker", "--threads", "2")
    run = start_manual_run(Actor.system(workspace["id"]), wf, {})
    wait_for(lambda: server.hits.get("/slow", 0) >= 1, timeout=30)
    skewed = spawn("worker", "--threads", "2", prefix=("faketime", "-f", "+120s"),
                   env={"FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    time.sleep(4)  # several of the skewed worker's sweeps, past the 3 s lease by its own clock
    assert skewed.poll() is None, "the skewed worker must be running"
    final = wait_finished(run.id, timeout=60)
    assert final["status"] == "succeeded", final
    assert server.hits["/slow"] == 1, "the in-flight step ran again on the skewed worker"
    assert server.hits["/first"] == 1 and server.hits["/last"] == 1


def test_sigterm_lets_the_in_flight_step_finish(spawn: Callable, workspace: dict, server: LocalServer) -> None:
    """The old worker cut the step after 5 s; now it has the grace period (30 s by default)."""
    wf = _slow_workflow(workspace["id"], server, first_call_s=8)
    worker = spawn("worker", "--threads", "2")
    run = start_manual_run(Actor.system(workspace["id"]), wf, {})
    wait_for(lambda: server.hits.get("/slow", 0) >= 1, timeout=30)
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    final = show(run.id)
    assert final["status"] == "succeeded", final  # finished by the stopping worker, nobody else
    assert server.hits["/slow"] == 1 and server.hits["/last"] == 1


def test_sigterm_past_the_grace_period_hands_the_run_to_another_worker_at_once(
        spawn: Callable, workspace: dict, server: LocalServer) -> None:
    wf = _slow_workflow(workspace["id"], server, first_call_s=60)
    long_lease = {"FLOWMATE_LEASE_SECONDS": "90", "FLOWMATE_WORKER_SHUTDOWN_GRACE_SECONDS": "1"}
    stopping = spawn("worker", "--threads", "2", env=long_lease)
    run = start_manual_run(Actor.system(workspace["id"]), wf, {})
    wait_for(lambda: server.hits.get("/slow", 0) >= 1, timeout=30)
    spawn("worker", "--threads", "2", env=long_lease)
    time.sleep(3)  # let the other worker start
    signalled = time.monotonic()
    os.kill(stopping.pid, signal.SIGTERM)
    assert stopping.wait(timeout=15) == 0
    final = wait_finished(run.id, timeout=45)
    assert final["status"] == "succeeded", final
    # on a loaded machine worker start-up alone can take seconds; the lease would have held it for 90
    assert time.monotonic() - signalled < 45, "resumed at once, not after the 90 s lease expired"
    assert server.hits["/first"] == 1, "a finished step must not run again"
    assert server.hits["/slow"] == 2  # the unfinished step is resumed elsewhere
    assert server.hits["/last"] == 1


def _terminate_backends(db_url: str, stop: threading.Event, killed: list[int]) -> None:
    name = db_url.rsplit("/", 1)[1]
    admin = db_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        while not stop.wait(0.15):
            rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchall()
            killed.append(len(rows))


def test_killed_database_connections_do_not_fail_runs_or_repeat_steps(
        pg_db: str, workspace: dict, server: LocalServer, start_runtime: Callable[..., Any]) -> None:
    """Every connection of the run's database is killed over and over while 20 runs execute."""
    def answer(req: dict) -> tuple[int, dict, bytes]:
        time.sleep(0.05)
        return json_response(200, {"n": req["n"]})

    server.route("/a", answer)
    server.route("/b", answer)
    with session_scope() as session:
        wf = create_workflow(session, Actor.system(workspace["id"]), {"name": "Chain", "steps": [
            {"key": "a", "action": "http.request", "config": {"url": server.url + "/a", "method": "POST"}},
            {"key": "pure", "action": "core.log", "config": {"message": "{{ steps.a.output.body.n }}"}},
            {"key": "b", "action": "http.request", "config": {"url": server.url + "/b", "method": "POST"}},
        ]}).id
    runs = [start_manual_run(Actor.system(workspace["id"]), wf, {}).id for _ in range(20)]
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_terminate_backends, args=(pg_db, stop, killed), daemon=True)
    killer.start()
    start_runtime(threads=4)

    def statuses() -> dict[str, str] | None:
        try:
            with session_scope() as session:
                return {r: session.get(Run, r).status for r in runs}
        except Exception:  # our own poll's connection was killed too
            return None

    try:
        wait_for(lambda: (s := statuses()) and all(v in ("succeeded", "failed") for v in s.values()),
                 timeout=120, interval=0.3)
    finally:
        stop.set()
        killer.join(timeout=5)
    assert sum(killed) > 20, "the test must actually have killed connections"
    final = wait_for(statuses, timeout=10)
    assert set(final.values()) == {"succeeded"}, final
    for path in ("/a", "/b"):
        keys = [r["headers"]["Idempotency-Key"] for r in server.requests if r["path"] == path]
        assert len(keys) == len(set(keys)) == 20, f"a finished {path} step ran again"
