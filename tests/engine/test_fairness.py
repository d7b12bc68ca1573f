"""Fairness between workspaces: one workspace's flood cannot hold every worker thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import LocalServer, json_response, wait_for

from engine.db import session_scope
from engine.models import Run
from engine.services.accounts import create_workspace
from engine.services.actor import Actor
from engine.services.runs import start_manual_run
from engine.services.workflows import create_workflow

MACRO_FANOUT = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"


@pytest.fixture
def slow_server() -> Iterator[LocalServer]:
    srv = LocalServer()

    def slow(_req: dict) -> tuple[int, dict, bytes]:
        time.sleep(4)
        return json_response(200, {"ok": True})

    srv.route("/slow", slow)
    yield srv
    srv.close()


def _workflow(workspace_id: str, steps: list[dict]) -> str:
    with session_scope() as session:
        return create_workflow(session, Actor.system(workspace_id), {"name": "W", "steps": steps}).id


def _status(run_id: str) -> str:
    with session_scope() as session:
        return session.get(Run, run_id).status


def _two_workspaces() -> tuple[str, str]:
    with session_scope() as session:
        return create_workspace(session, "Flooder").id, create_workspace(session, "Neighbour").id


def _start_workers(threads: int, monkeypatch: pytest.MonkeyPatch, start_runtime: Callable[..., Any]) -> None:
    from engine.config import get_settings

    monkeypatch.setenv("FLOWMATE_WORKER_THREADS", str(threads))
    get_settings.cache_clear()
    start_runtime(threads=threads)


def test_a_flooding_workspace_leaves_a_thread_for_another(sqlite_db: str, slow_server: LocalServer,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          start_runtime: Callable[..., Any]) -> None:
    a, b = _two_workspaces()
    slow = _workflow(a, [{"key": "call", "action": "http.request",
                          "config": {"url": slow_server.url + "/slow", "timeout_s": 30}}])
    quick = _workflow(b, [{"key": "note", "action": "core.log", "config": {"message": "hello"}}])
    _start_workers(4, monkeypatch, start_runtime)
    flood = [start_manual_run(Actor.system(a), slow, {}).id for _ in range(7)]
    wait_for(lambda: slow_server.hits.get("/slow", 0) >= 3, timeout=10)
    started = time.monotonic()
    mine = start_manual_run(Actor.system(b), quick, {}).id
    wait_for(lambda: _status(mine) == "succeeded", timeout=4)
    assert time.monotonic() - started < 4
    # the flood is deferred, not dropped: at most threads - 1 of it ran at once, and all of it finishes
    assert slow_server.hits["/slow"] <= 3
    wait_for(lambda: all(_status(r) == "succeeded" for r in flood), timeout=60)
    assert slow_server.hits["/slow"] == 7


def test_cpu_bombs_fail_in_time_while_another_workspace_runs(sqlite_db: str, monkeypatch: pytest.MonkeyPatch,
                                                             start_runtime: Callable[..., Any]) -> None:
    a, b = _two_workspaces()
    monkeypatch.setenv("FLOWMATE_EXPRESSION_MAX_OPERATIONS", str(10**12))  # only the step's timeout stops them
    bomb = _workflow(a, [{"key": "bomb", "action": "core.log", "config": {"message": MACRO_FANOUT},
                          "timeout_s": 3}])
    quick = _workflow(b, [{"key": "note", "action": "core.log", "config": {"message": "hello"}}])
    _start_workers(2, monkeypatch, start_runtime)
    bombs = [start_manual_run(Actor.system(a), bomb, {}).id for _ in range(4)]
    time.sleep(0.5)
    started = time.monotonic()
    mine = start_manual_run(Actor.system(b), quick, {}).id
    wait_for(lambda: _status(mine) == "succeeded", timeout=5)
    assert time.monotonic() - started < 5
    wait_for(lambda: all(_status(r) == "failed" for r in bombs), timeout=40)
    with session_scope() as session:
        errors = {session.get(Run, r).error for r in bombs}
    assert all("ran for more than 3s" in e for e in errors), errors
