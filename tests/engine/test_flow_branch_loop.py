"""Branches, loops, step paths and on_error, executed through the real queue (embedded broker +
worker threads) on SQLite and PostgreSQL; side effects counted at a local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flow_support import by_path, log, make_workflow, run_and_wait
from support import LocalServer, json_response


@pytest.fixture
def worker(any_db: str, start_runtime: Any) -> Iterator[None]:
    start_runtime(threads=4)
    yield


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.route("/hit", lambda req: json_response(200, {"got": json.loads(req["body"] or b"{}")}))
    yield srv
    srv.close()


def hit(key: str, url: str, body: dict | None = None, **extra: object) -> dict:
    return {"key": key, "action": "http.request",
            "config": {"method": "POST", "url": url + "/hit", "json": body or {"step": key}}, **extra}


def route_wf(mode: str) -> dict:
    return {"name": f"Route {mode}", "steps": [
        {"key": "route", "action": "flow.branch", "config": {"mode": mode}, "branches": [
            {"key": "big", "when": "{{ trigger.payload.total > 1000 }}", "steps": [log("owner", "big order")]},
            {"key": "vip", "when": "{{ trigger.payload.vip }}", "steps": [log("vip_note", "vip")]},
            {"key": "small", "default": True, "steps": [log("small_note", "small")]},
        ]},
        log("after", "{{ steps.route.output.taken | join(',') }}"),
    ]}


def test_first_match_takes_the_first_true_branch_and_skips_the_others(worker: None, workspace: dict) -> None:
    actor, wf = make_workflow(workspace, route_wf("first_match"))
    run = run_and_wait(actor, wf, {"total": 5000, "vip": True})
    assert run["status"] == "succeeded", run
    steps = by_path(run)
    assert steps["route"]["output"] == {"taken": ["big"]}
    assert steps["owner"]["status"] == "succeeded"
    assert steps["vip_note"]["status"] == "skipped" and steps["small_note"]["status"] == "skipped"
    assert steps["after"]["output"]["message"] == "big"


def test_all_match_takes_every_true_branch_in_order(worker: None, workspace: dict) -> None:
    actor, wf = make_workflow(workspace, route_wf("all_match"))
    run = run_and_wait(actor, wf, {"total": 5000, "vip": True})
    assert run["status"] == "succeeded", run
    steps = by_path(run)
    assert steps["route"]["output"] == {"taken": ["big", "vip"]}
    assert [s["key"] for s in run["steps"] if s["status"] == "succeeded"] == ["route", "owner", "vip_note", "after"]
    assert steps["small_note"]["status"] == "skipped"


def test_default_branch_when_nothing_matches(worker: None, workspace: dict) -> None:
    actor, wf = make_workflow(workspace, route_wf("first_match"))
    run = run_and_wait(actor, wf, {"total": 10, "vip": False})
    steps = by_path(run)
    assert run["status"] == "succeeded", run
    assert steps["route"]["output"] == {"taken": ["small"]}
    assert steps["small_note"]["status"] == "succeeded"
    assert steps["owner"]["status"] == "skipped" and steps["vip_note"]["status"] == "skipped"
    assert steps["after"]["output"]["message"] == "small"


def test_an_empty_branch_never_blocks_the_steps_after_it(worker: None, workspace: dict, server: LocalServer) -> None:
    actor, wf = make_workflow(workspace, {"name": "Empty", "steps": [
        {"key": "route", "action": "flow.branch", "config": {}, "branches": [
            {"key": "nothing", "when": "{{ true }}", "steps": []},
            {"key": "other", "default": True, "steps": [hit("never", server.url)]}]},
        hit("then", server.url),
        log("last"),
    ]})
    run = run_and_wait(actor, wf)
    assert run["status"] == "succeeded", run
    assert by_path(run)["route"]["output"] == {"taken": ["nothing"]}
    assert [r["path"] for r in server.requests] == ["/hit"]
    assert json.loads(server.requests[0]["body"]) == {"step": "then"}
    assert by_path(run)["never"]["status"] == "skipped"


def test_loop_runs_inner_steps_per_item_with_paths_and_results(worker: None, workspace: dict,
                                                              server: LocalServer) -> None:
    actor, wf = make_workflow(workspace, {"name": "Suppliers", "steps": [
        {"key": "each_item", "action": "flow.loop", "config": {"items": "{{ trigger.payload.items }}"}, "steps": [
            hit("supplier", server.url, {"sku": "{{ loop.item.sku }}", "n": "{{ loop.index }}",
                                         "first": "{{ loop.first }}", "last": "{{ loop.last }}"}),
            log("note", "{{ steps.supplier.output.body.got.sku }}"),
        ]},
        log("done", "{{ steps.each_item.output.count }} items"),
    ]})
    items = [{"sku": f"S{i}"} for i in range(3)]
    run = run_and_wait(actor, wf, {"items": items})
    assert run["status"] == "succeeded", run
    assert [json.loads(r["body"]) for r in server.requests] == [
        {"sku": "S0", "n": 0, "first": True, "last": False}, {"sku": "S1", "n": 1, "first": False, "last": False},
        {"sku": "S2", "n": 2, "first": False, "last": True}]
    steps = by_path(run)
    assert steps["each_item[1].note"]["output"]["message"] == "S1"  # the current iteration's output
    assert steps["each_item[2].supplier"]["iteration"] == 2 and steps["each_item"]["iteration"] is None
    assert steps["done"]["output"]["message"] == "3 items"
    loop_out = steps["each_item"]["output"]
    assert loop_out["count"] == 3 and [r["note"]["message"] for r in loop_out["results"]] == ["S0", "S1", "S2"]
    # execution order: the loop, then each iteration's steps in turn, then what follows
    assert [s["path"] for s in run["steps"]] == [
        "each_item", "each_item[0].supplier", "each_item[0].note", "each_item[1].supplier", "each_item[1].note",
        "each_item[2].supplier", "each_item[2].note", "done"]
    # each iteration has its own idempotency key "{run_id}:{path}"
    assert [r["headers"]["Idempotency-Key"] for r in server.requests] == [
        f"{run['id']}:each_item[{i}].supplier" for i in range(3)]


def test_loop_of_100_items_makes_exactly_100_calls(worker: None, workspace: dict, server: LocalServer) -> None:
    actor, wf = make_workflow(workspace, {"name": "Hundred", "steps": [
        {"key": "each", "action": "flow.loop", "config": {"items": "{{ range(100) | list }}"},
         "steps": [hit("call", server.url, {"i": "{{ loop.item }}"})]}]})
    run = run_and_wait(actor, wf, timeout=120)
    assert run["status"] == "succeeded", run
    assert sorted(json.loads(r["body"])["i"] for r in server.requests) == list(range(100))
    assert by_path(run)["each"]["output"]["count"] == 100


def test_nested_loops_run_the_inner_loop_fully_in_every_outer_iteration(worker: None, workspace: dict,
                                                                       server: LocalServer) -> None:
    actor, wf = make_workflow(workspace, {"name": "Nested", "steps": [
        {"key": "outer", "action": "flow.loop", "config": {"items": "{{ trigger.payload.orders }}"}, "steps": [
            {"key": "inner", "action": "flow.loop", "config": {"items": "{{ loop.item.lines }}"}, "steps": [
                hit("line", server.url, {"order": "{{ loops.outer.item.id }}", "line": "{{ loop.item }}"})]},
            log("order_done", "{{ steps.inner.output.count }}"),
        ]}]})
    orders = [{"id": "A", "lines": [1, 2, 3]}, {"id": "B", "lines": [4, 5]}, {"id": "C", "lines": [6]}]
    run = run_and_wait(actor, wf, {"orders": orders})
    assert run["status"] == "succeeded", run
    assert [json.loads(r["body"]) for r in server.requests] == [
        {"order": o["id"], "line": n} for o in orders for n in o["lines"]]
    steps = by_path(run)
    assert [steps[f"outer[{i}].order_done"]["output"]["message"] for i in range(3)] == ["3", "2", "1"]
    assert steps["outer[1].inner[1].line"]["iteration"] == 1
    assert steps["outer[2].inner"]["output"]["count"] == 1


def test_concurrency_runs_iterations_at_once_and_records_every_one(worker: None, workspace: dict) -> None:
    in_flight, peak, lock = [0], [0], threading.Lock()

    def slow(req: dict) -> tuple:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.15)
        with lock:
            in_flight[0] -= 1
        return json_response(200, {"ok": True})

    srv = LocalServer()
    srv.route("/slow", slow)
    try:
        peaks = {}
        for concurrency in (1, 5):
            peak[0] = 0
            actor, wf = make_workflow(workspace, {"name": f"C{concurrency}", "steps": [
                {"key": "each", "action": "flow.loop",
                 "config": {"items": "{{ range(10) | list }}", "concurrency": concurrency},
                 "steps": [{"key": "call", "action": "http.request",
                            "config": {"method": "POST", "url": srv.url + "/slow",
                                       "json": {"i": "{{ loop.item }}"}}}]}]})
            run = run_and_wait(actor, wf, timeout=120)
            assert run["status"] == "succeeded", run
            steps = by_path(run)
            assert all(steps[f"each[{i}].call"]["status"] == "succeeded" for i in range(10))
            assert steps["each"]["output"]["count"] == 10
            peaks[concurrency] = peak[0]
        # one at a time means one request in flight; five at a time overlaps them
        assert peaks[1] == 1 and peaks[5] > 1
    finally:
        srv.close()


def test_on_error_continue_inside_a_loop_records_the_failure_and_goes_on(worker: None, workspace: dict) -> None:
    srv = LocalServer()
    srv.route("/item", lambda req: json_response(400 if json.loads(req["body"])["i"] == 1 else 200, {"ok": True}))
    try:
        actor, wf = make_workflow(workspace, {"name": "Continue", "steps": [
            {"key": "each", "action": "flow.loop", "config": {"items": [0, 1, 2]}, "steps": [
                {"key": "call", "action": "http.request", "on_error": "continue", "retry": {"max_attempts": 1},
                 "config": {"method": "POST", "url": srv.url + "/item", "json": {"i": "{{ loop.item }}"}}}]},
            log("after")]})
        run = run_and_wait(actor, wf)
    finally:
        srv.close()
    assert run["status"] == "succeeded", run
    steps = by_path(run)
    assert steps["each[1].call"]["status"] == "failed" and "400" in steps["each[1].call"]["output"]["error"]
    assert steps["each[0].call"]["status"] == steps["each[2].call"]["status"] == "succeeded"
    assert steps["after"]["status"] == "succeeded"
    assert run["warnings"] == 1 and "1 step failed" in run["result"]


def test_on_error_fail_inside_a_loop_fails_the_run_and_stops_the_loop(worker: None, workspace: dict) -> None:
    srv = LocalServer()
    srv.route("/item", lambda req: json_response(400 if json.loads(req["body"])["i"] == 1 else 200, {}))
    try:
        actor, wf = make_workflow(workspace, {"name": "Fail", "steps": [
            {"key": "each", "action": "flow.loop", "config": {"items": [0, 1, 2]}, "steps": [
                {"key": "call", "action": "http.request", "retry": {"max_attempts": 1},
                 "config": {"method": "POST", "url": srv.url + "/item", "json": {"i": "{{ loop.item }}"}}}]},
            log("after")]})
        run = run_and_wait(actor, wf)
    finally:
        srv.close()
    assert run["status"] == "failed", run
    assert len(srv.requests) == 2  # item 2 never ran
    steps = by_path(run)
    assert steps["each"]["status"] == "failed" and steps["after"]["status"] == "skipped"
    assert run["error"].startswith("Step 'each[1].call' failed: ") and "HTTP 400" in run["error"]


def test_loop_over_a_non_list_and_an_overlong_list_fail_clearly(worker: None, workspace: dict) -> None:
    actor, wf = make_workflow(workspace, {"name": "Bad items", "steps": [
        {"key": "each", "action": "flow.loop", "config": {"items": "{{ trigger.payload.items }}", "max_items": 2},
         "steps": [log("x")]}]})
    run = run_and_wait(actor, wf, {"items": {"a": 1}})
    assert run["status"] == "failed" and "items must be a list; got dict" in run["error"]
    run = run_and_wait(actor, wf, {"items": [1, 2, 3]})
    assert run["status"] == "failed" and "more than max_items (2)" in run["error"]
    actor, wf = make_workflow(workspace, {"name": "Truncate", "steps": [
        {"key": "each", "action": "flow.loop", "config": {"items": [1, 2, 3], "max_items": 2, "truncate": True},
         "steps": [log("x")]}]})
    run = run_and_wait(actor, wf)
    assert run["status"] == "succeeded" and by_path(run)["each"]["output"]["count"] == 2


def test_branch_inside_a_loop_and_loop_inside_a_branch(worker: None, workspace: dict, server: LocalServer) -> None:
    actor, wf = make_workflow(workspace, {"name": "Mixed", "steps": [
        {"key": "each", "action": "flow.loop", "config": {"items": [5, 50, 500]}, "steps": [
            {"key": "size", "action": "flow.branch", "config": {}, "branches": [
                {"key": "big", "when": "{{ loop.item > 100 }}", "steps": [hit("big_call", server.url,
                                                                              {"big": "{{ loop.item }}"})]},
                {"key": "rest", "default": True, "steps": [log("small", "{{ loop.item }}")]}]}]},
        {"key": "route", "action": "flow.branch", "config": {}, "branches": [
            {"key": "many", "when": "{{ steps.each.output.count > 2 }}", "steps": [
                {"key": "again", "action": "flow.loop", "config": {"items": ["x", "y"]},
                 "steps": [hit("again_call", server.url, {"v": "{{ loop.item }}"})]}]},
            {"key": "few", "default": True, "steps": []}]},
    ]})
    run = run_and_wait(actor, wf)
    assert run["status"] == "succeeded", run
    steps = by_path(run)
    assert steps["each[0].size"]["output"] == {"taken": ["rest"]}
    assert steps["each[2].size"]["output"] == {"taken": ["big"]}
    assert steps["each[0].big_call"]["status"] == "skipped" and steps["each[2].small"]["status"] == "skipped"
    assert steps["route"]["output"] == {"taken": ["many"]}
    assert [json.loads(r["body"]) for r in server.requests] == [{"big": 500}, {"v": "x"}, {"v": "y"}]
    assert steps["again[1].again_call"]["iteration"] == 1


def test_when_retries_and_timeouts_work_inside_loops(worker: None, workspace: dict) -> None:
    srv = LocalServer()
    srv.route("/flaky", lambda req: json_response(503 if req["n"] == 1 else 200, {"n": req["n"]}))
    try:
        actor, wf = make_workflow(workspace, {"name": "Retry inside", "steps": [
            {"key": "each", "action": "flow.loop", "config": {"items": [1, 2]}, "steps": [
                {"key": "call", "action": "http.request", "when": "{{ loop.item == 2 }}",
                 "retry": {"max_attempts": 3, "initial_delay_s": 0.1},
                 "config": {"method": "GET", "url": srv.url + "/flaky"}}]}]})
        run = run_and_wait(actor, wf)
    finally:
        srv.close()
    assert run["status"] == "succeeded", run
    steps = by_path(run)
    assert steps["each[0].call"]["status"] == "skipped"
    assert steps["each[1].call"]["attempts"] == 2 and steps["each[1].call"]["output"]["body"] == {"n": 2}


def test_return_inside_a_loop_ends_the_run_with_its_value(worker: None, workspace: dict) -> None:
    actor, wf = make_workflow(workspace, {"name": "Find", "steps": [
        {"key": "each", "action": "flow.loop", "config": {"items": [3, 8, 12, 20]}, "steps": [
            {"key": "found", "action": "flow.return", "when": "{{ loop.item > 10 }}",
             "config": {"value": {"first_big": "{{ loop.item }}"}}}]},
        log("never")]})
    run = run_and_wait(actor, wf)
    assert run["status"] == "succeeded", run
    steps = by_path(run)
    assert run["result_value"] == {"first_big": 12}
    assert steps["each"]["status"] == "succeeded" and steps["each"]["output"]["stopped"] is True
    assert "each[3].found" not in steps  # the loop ended at item 12
    assert steps["never"]["status"] == "skipped"


def test_a_loop_skipped_by_its_when_runs_nothing_inside(worker: None, workspace: dict) -> None:
    actor, wf = make_workflow(workspace, {"name": "Skip loop", "steps": [
        {"key": "each", "action": "flow.loop", "when": "{{ false }}", "config": {"items": [1, 2]},
         "steps": [log("inside")]}, log("after")]})
    run = run_and_wait(actor, wf)
    assert run["status"] == "succeeded"
    assert [(s["path"], s["status"]) for s in run["steps"]] == [("each", "skipped"), ("after", "succeeded")]


def test_a_run_stops_at_10000_step_executions(sqlite_db: str, workspace: dict, start_runtime: Any) -> None:
    start_runtime(threads=2)
    actor, wf = make_workflow(workspace, {"name": "Too many", "steps": [
        {"key": "outer", "action": "flow.loop", "config": {"items": "{{ range(101) | list }}"}, "steps": [
            {"key": "inner", "action": "flow.loop", "config": {"items": "{{ range(100) | list }}"},
             "steps": [log("tick")]}]}]})
    run = run_and_wait(actor, wf, timeout=600)
    assert run["status"] == "failed"
    assert "more than 10,000 step executions" in run["error"]
    assert run["error"].startswith("Step 'outer[100].inner[0].tick' failed")
    assert sum(1 for s in run["steps"] if s["key"] == "tick" and s["status"] == "succeeded") == 10_000
