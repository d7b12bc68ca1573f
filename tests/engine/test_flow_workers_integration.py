"""Flow control on PostgreSQL + Redis with real `flowmate worker` subprocesses: a worker killed
with SIGKILL in the middle of a loop or while a run waits; the sweeper recovering a lost wake-up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from support import LocalServer, json_response, wait_for

from engine.db import session_scope
from engine.models import Run
from engine.services import waits
from engine.services.actor import Actor
from engine.services.runs import run_public, start_manual_run
from engine.services.workflows import create_workflow

pytestmark = pytest.mark.integration


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def show(run_id: str) -> dict:
    with session_scope() as session:
        return run_public(session, session.get(Run, run_id))


def wait_status(run_id: str, statuses: tuple[str, ...] = ("succeeded", "failed", "cancelled"),
                timeout: float = 90) -> dict:
    return wait_for(lambda: (r := show(run_id))["status"] in statuses and r, timeout=timeout, interval=0.1)


def make(workspace: dict, definition: dict) -> tuple[Actor, str]:
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        return actor, create_workflow(session, actor, definition).id


@pytest.mark.timeout(1800)  # 100 side-effect iterations on a shared, loaded machine
def test_kill_9_in_iteration_40_of_100_resumes_there(spawn: Callable, workspace: dict) -> None:
    release = threading.Event()

    def item(req: dict) -> tuple:
        if json.loads(req["body"])["i"] == 40 and not release.is_set():
            release.wait(30)  # the worker dies while this call is in flight
        return json_response(200, {"ok": True})

    srv = LocalServer()
    srv.route("/item", item)
    try:
        actor, wf = make(workspace, {"name": "Hundred", "steps": [
            {"key": "each", "action": "flow.loop", "config": {"items": "{{ range(100) | list }}"}, "steps": [
                {"key": "call", "action": "http.request", "timeout_s": 60,
                 "config": {"method": "POST", "url": srv.url + "/item", "json": {"i": "{{ loop.item }}"}}}]},
            {"key": "after", "action": "core.log", "config": {"message": "{{ steps.each.output.count }}"}}]})
        doomed = spawn("worker", "--threads", "2")
        run = start_manual_run(actor, wf, {})
        # generous: on a loaded machine each side-effect iteration costs two commits and a call
        wait_for(lambda: any(json.loads(r["body"])["i"] == 40 for r in srv.requests), timeout=600)
        kill(doomed)
        release.set()
        spawn("worker", "--threads", "2")
        final = wait_status(run.id, timeout=900)
    finally:
        release.set()
        srv.close()
    assert final["status"] == "succeeded", final
    sent = [json.loads(r["body"])["i"] for r in srv.requests]
    per_item = Counter(sent)
    assert sorted(per_item) == list(range(100))
    # The call in flight at the kill was sent again (by the new worker); any other repeat is a
    # call in flight when a loaded worker's lease lapsed and another thread took the run over.
    repeated = {i for i, n in per_item.items() if n > 1}
    assert 40 in repeated and all(per_item[i] == 2 for i in repeated), (per_item, final["attempt"])
    # A resume starts at the unfinished iteration, never from the top: each repeat directly
    # follows the first send of the same item (nothing ran again after it).
    for i in repeated:
        first, second = [n for n, item in enumerate(sent) if item == i]
        assert second == first + 1, (i, sent[first:second + 1])
    keys = [r["headers"]["Idempotency-Key"] for r in srv.requests]
    assert len(set(keys)) == 100  # 100 side effects for a target that de-duplicates by key
    assert {k for k in keys if keys.count(k) > 1} == {f"{run.id}:each[{i}].call" for i in repeated}
    steps = {s["path"]: s for s in final["steps"]}
    assert steps["each"]["output"]["count"] == 100 and steps["after"]["output"]["message"] == "100"
    assert sum(1 for s in final["steps"] if s["key"] == "call" and s["status"] == "succeeded") == 100


def _event_workflow(workspace: dict, srv: LocalServer) -> tuple[Actor, str]:
    return make(workspace, {"name": "Wait", "steps": [
        {"key": "tell", "action": "http.request",
         "config": {"method": "POST", "url": srv.url + "/tell", "json": {"url": "{{ resume_url('answer') }}"}}},
        {"key": "answer", "action": "flow.wait_for_event", "config": {"timeout_s": 3600}},
        {"key": "done", "action": "core.log", "config": {"message": "{{ steps.answer.output.v }}"}}]})


def _token(srv: LocalServer) -> str:
    return json.loads(srv.requests[0]["body"])["url"].rsplit("/", 1)[1]


def test_worker_killed_while_waiting_the_resume_still_works(spawn: Callable, workspace: dict) -> None:
    srv = LocalServer()
    srv.route("/tell", lambda req: json_response(200, {}))
    try:
        actor, wf = _event_workflow(workspace, srv)
        doomed = spawn("worker", "--threads", "2")
        run = start_manual_run(actor, wf, {})
        wait_status(run.id, ("waiting",), timeout=60)
        kill(doomed)
        with session_scope() as session:
            assert waits.resume(session, _token(srv), {"v": "hello"}).resumed
        spawn("worker", "--threads", "2")
        final = wait_status(run.id)
    finally:
        srv.close()
    assert final["status"] == "succeeded", final
    assert final["steps"][-1]["output"]["message"] == "hello"
    assert len(srv.requests) == 1  # the step before the wait never ran again


def test_the_sweeper_recovers_a_lost_wake_up(spawn: Callable, workspace: dict, redis_env: dict) -> None:
    import redis

    srv = LocalServer()
    srv.route("/tell", lambda req: json_response(200, {}))
    try:
        actor, wf = _event_workflow(workspace, srv)
        doomed = spawn("worker", "--threads", "2")
        run = start_manual_run(actor, wf, {})
        wait_status(run.id, ("waiting",), timeout=60)
        kill(doomed)
        with session_scope() as session:
            waits.resume(session, _token(srv), {"v": "late"})
        # the wake-up message is lost (our own namespace only)
        client = redis.Redis.from_url(redis_env["FLOWMATE_REDIS_URL"])
        for key in client.scan_iter(f"{redis_env['FLOWMATE_REDIS_NAMESPACE']}*"):
            client.delete(key)
        time.sleep(0.5)
        spawn("worker", "--threads", "2")  # its sweeper finds the run due and re-enqueues it
        final = wait_status(run.id)
    finally:
        srv.close()
    assert final["status"] == "succeeded", final
    assert final["steps"][-1]["output"]["message"] == "late"
