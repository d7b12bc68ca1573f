"""Runs executed through the real queue (embedded broker + worker threads) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import LocalServer, json_response, wait_for

from engine.db import session_scope
from engine.models import Run
from engine.services.actor import Actor
from engine.services.runs import cancel_run, run_public, start_manual_run
from engine.services.workflows import create_workflow

FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture
def worker(any_db: str, start_runtime: Callable[..., Any]) -> Iterator[None]:
    start_runtime(threads=4)
    yield


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def make_workflow(workspace: dict[str, str], definition: dict) -> tuple[Actor, str]:
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        wf = create_workflow(session, actor, definition)
        return actor, wf.id


def run_and_wait(actor: Actor, workflow_id: str, payload: dict | None = None, timeout: float = 30) -> dict:
    run = start_manual_run(actor, workflow_id, payload or {})

    def finished() -> dict | None:
        with session_scope() as session:
            shown = run_public(session, session.get(Run, run.id))
        return shown if shown["status"] in FINISHED else None

    return wait_for(finished, timeout=timeout)


def test_three_steps_use_earlier_outputs(worker: None, workspace: dict, server: LocalServer) -> None:
    server.route("/price", lambda req: json_response(200, {"sku": json.loads(req["body"])["sku"], "price": 42}))
    actor, wf_id = make_workflow(workspace, {
        "name": "Quote",
        "steps": [
            {"key": "lookup", "action": "http.request",
             "config": {"method": "POST", "url": server.url + "/price", "json": {"sku": "{{ trigger.payload.sku }}"}}},
            {"key": "total", "action": "core.log",
             "config": {"message": "{{ trigger.payload.qty }} x {{ steps.lookup.output.body.price }}",
                        "data": "{{ steps.lookup.output.body.price * trigger.payload.qty }}"}},
            {"key": "announce", "action": "core.log",
             "config": {"message": "Total for {{ steps.lookup.output.body.sku }}: {{ steps.total.output.data }}"}},
        ],
    })
    run = run_and_wait(actor, wf_id, {"sku": "PIPE-15", "qty": 3})
    assert run["status"] == "succeeded", run
    steps = {s["key"]: s for s in run["steps"]}
    assert steps["lookup"]["output"]["body"] == {"sku": "PIPE-15", "price": 42}
    assert steps["total"]["output"]["data"] == 126  # native int, not "126"
    assert steps["announce"]["output"]["message"] == "Total for PIPE-15: 126"
    assert all(s["status"] == "succeeded" and s["attempts"] == 1 for s in run["steps"])
    # The HTTP step received the idempotency key "{run_id}:{step_key}".
    assert server.requests[0]["headers"]["Idempotency-Key"] == f"{run['id']}:lookup"
    # The run and its three steps count into this month's usage.
    from engine.services.usage import flush_usage, usage_history

    flush_usage()
    with session_scope() as session:
        assert usage_history(session, workspace["id"])[0] | {"month": None} == {"month": None, "runs": 1, "steps": 3}


def test_retries_back_off_exponentially_then_succeed(worker: None, workspace: dict, server: LocalServer) -> None:
    server.route("/flaky", lambda req: json_response(503, {"busy": True}) if req["n"] <= 2
                 else json_response(200, {"ok": True}))
    actor, wf_id = make_workflow(workspace, {
        "name": "Flaky",
        "steps": [{"key": "call", "action": "http.request", "config": {"url": server.url + "/flaky"},
                   "retry": {"max_attempts": 5, "initial_delay_s": 0.4, "factor": 3, "max_delay_s": 60}}],
    })
    run = run_and_wait(actor, wf_id)
    step = run["steps"][0]
    assert run["status"] == "succeeded", run
    assert step["attempts"] == 3 and server.hits["/flaky"] == 3
    d1, d2 = step["retry_delays"]
    assert 0.32 <= d1 <= 0.48 and 0.96 <= d2 <= 1.44, step["retry_delays"]  # 0.4 then 1.2, ±20 % jitter
    gaps = [b["time"] - a["time"] for a, b in zip(server.requests, server.requests[1:], strict=False)]
    assert gaps[1] > gaps[0] >= 0.3, gaps  # the real spacing grows too


def test_client_error_fails_at_once_without_retry(worker: None, workspace: dict, server: LocalServer) -> None:
    server.route("/bad", lambda req: json_response(400, {"error": "missing email"}))
    actor, wf_id = make_workflow(workspace, {
        "name": "Bad request",
        "steps": [{"key": "call", "action": "http.request", "config": {"url": server.url + "/bad"},
                   "retry": {"max_attempts": 5, "initial_delay_s": 0.1}},
                  {"key": "after", "action": "core.log", "config": {"message": "never"}}],
    })
    run = run_and_wait(actor, wf_id)
    assert run["status"] == "failed"
    assert server.hits["/bad"] == 1
    assert run["steps"][0]["status"] == "failed" and run["steps"][0]["attempts"] == 1
    assert "400" in run["steps"][0]["error"] and "missing email" in run["steps"][0]["error"]
    assert run["steps"][1]["status"] == "skipped"
    assert "Step 'call' failed" in run["error"]


def test_when_skips_and_filter_stops_as_succeeded(worker: None, workspace: dict) -> None:
    actor, wf_id = make_workflow(workspace, {
        "name": "Conditions",
        "steps": [
            {"key": "vip", "action": "core.log", "config": {"message": "VIP!"},
             "when": "{{ trigger.payload.score >= 50 }}"},
            {"key": "gate", "action": "core.filter",
             "config": {"condition": "{{ trigger.payload.country == 'AU' }}", "reason": "not in Australia"}},
            {"key": "after", "action": "core.log", "config": {"message": "Aussie lead"}},
        ],
    })
    low = run_and_wait(actor, wf_id, {"score": 10, "country": "NZ"})
    steps = {s["key"]: s["status"] for s in low["steps"]}
    assert low["status"] == "succeeded" and low["result"] == "not in Australia"
    assert steps == {"vip": "skipped", "gate": "succeeded", "after": "skipped"}
    high = run_and_wait(actor, wf_id, {"score": 80, "country": "AU"})
    assert [s["status"] for s in high["steps"]] == ["succeeded"] * 3


def test_delay_parks_the_run_without_holding_a_worker(worker: None, workspace: dict) -> None:
    actor, wf_id = make_workflow(workspace, {
        "name": "Delay",
        "steps": [{"key": "wait", "action": "core.delay", "config": {"seconds": 1.5}},
                  {"key": "after", "action": "core.log", "config": {"message": "{{ steps.wait.output.waited_s }}"}}],
    })
    run = start_manual_run(actor, wf_id, {})

    def status() -> str:
        with session_scope() as session:
            return session.get(Run, run.id).status

    wait_for(lambda: status() == "waiting", timeout=10)
    final = run_and_wait_existing(run.id)
    assert final["status"] == "succeeded"
    assert final["steps"][1]["output"]["message"] == "1.5"


def run_and_wait_existing(run_id: str, timeout: float = 20) -> dict:
    def finished() -> dict | None:
        with session_scope() as session:
            shown = run_public(session, session.get(Run, run_id))
        return shown if shown["status"] in FINISHED else None

    return wait_for(finished, timeout=timeout)


def test_cancel_a_waiting_run(worker: None, workspace: dict) -> None:
    actor, wf_id = make_workflow(workspace, {
        "name": "Long delay",
        "steps": [{"key": "wait", "action": "core.delay", "config": {"minutes": 10}},
                  {"key": "after", "action": "core.log", "config": {"message": "too late"}}],
    })
    run = start_manual_run(actor, wf_id, {})

    def status() -> str:
        with session_scope() as session:
            return session.get(Run, run.id).status

    wait_for(lambda: status() == "waiting")
    with session_scope() as session:
        cancel_run(session, actor, run.id)
    assert status() == "cancelled"


def test_sandbox_escape_fails_the_step_clearly(worker: None, workspace: dict) -> None:
    actor, wf_id = make_workflow(workspace, {
        "name": "Escape",
        "steps": [{"key": "evil", "action": "core.log",
                   "config": {"message": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}}],
    })
    run = run_and_wait(actor, wf_id)
    assert run["status"] == "failed"
    assert "not allowed" in run["steps"][0]["error"] and "__class__" in run["steps"][0]["error"]


def test_payload_with_braces_is_data_not_template(worker: None, workspace: dict) -> None:
    actor, wf_id = make_workflow(workspace, {
        "name": "Echo", "steps": [{"key": "echo", "action": "core.log",
                                   "config": {"message": "Got: {{ trigger.payload.text }}"}}],
    })
    run = run_and_wait(actor, wf_id, {"text": "{{ 7*7 }} {{ ''.__class__ }}"})
    assert run["status"] == "succeeded"
    assert run["steps"][0]["output"]["message"] == "Got: {{ 7*7 }} {{ ''.__class__ }}"
