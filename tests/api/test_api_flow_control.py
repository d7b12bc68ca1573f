"""Waiting for people and events, child runs and the run document, through the REST API with
the real queue (embedded worker) on SQLite and PostgreSQL; side effects at a local server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from support import LocalServer, json_response, wait_for

FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture
def flow_api(any_api: Any, start_runtime: Any) -> Iterator[Any]:
    start_runtime(threads=4)
    yield any_api


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.route("/notify", lambda req: json_response(200, {"ok": True}))
    yield srv
    srv.close()


def workflow(api: Any, steps: list[dict], name: str = "Flow", tenant: Any = None) -> str:
    return api.create_workflow({"name": name, "trigger": {"type": "manual", "config": {}}, "steps": steps},
                               tenant=tenant)["id"]


def start(api: Any, wf_id: str, payload: Any = None, tenant: Any = None) -> str:
    r = api.post(f"/api/v1/workflows/{wf_id}/runs", {"payload": payload or {}}, tenant=tenant)
    assert r.status_code in (200, 201, 202), r.text
    return r.json()["id"]


def run_doc(api: Any, run_id: str, tenant: Any = None) -> dict:
    r = api.get(f"/api/v1/runs/{run_id}", tenant=tenant)
    assert r.status_code == 200, r.text
    return r.json()


def wait_run(api: Any, run_id: str, statuses: tuple[str, ...] = FINISHED, timeout: float = 60,
             tenant: Any = None) -> dict:
    return wait_for(lambda: (doc := run_doc(api, run_id, tenant)) and doc["status"] in statuses and doc,
                    timeout=timeout)


def step(doc: dict, path: str) -> dict:
    return next((s for s in doc["steps"] if s["path"] == path), {"status": None, "path": path})


def waiting_step(api: Any, run_id: str, path: str) -> dict:
    """Wait until the run is parked with ``path`` running (waiting)."""
    return wait_for(lambda: (doc := run_doc(api, run_id))["status"] == "waiting"
                    and step(doc, path)["status"] == "running" and doc, timeout=30)


def resume_path(url: str) -> str:
    parsed = urlparse(url)
    assert parsed.path.startswith("/hooks/resume/")
    return parsed.path


# -- wait_for_event ------------------------------------------------------------------------------


def event_steps(server: LocalServer, **wait_config: Any) -> list[dict]:
    return [
        {"key": "send_quote", "action": "http.request",
         "config": {"method": "POST", "url": server.url + "/notify",
                    "json": {"accept_url": "{{ resume_url('accepted') }}"}}},
        {"key": "accepted", "action": "flow.wait_for_event", "config": {"timeout_s": 3600, **wait_config}},
        {"key": "invoice", "action": "core.log", "config": {"message": "accepted by {{ steps.accepted.output.name }}"}},
    ]


def test_resume_url_from_an_earlier_step_resumes_once(flow_api: Any, server: LocalServer) -> None:
    api = flow_api
    run_id = start(api, workflow(api, event_steps(server)))
    waiting_step(api, run_id, "accepted")
    url = json.loads(server.requests[0]["body"])["accept_url"]
    assert run_id not in url  # the URL never reveals the run id
    # the run page's copy button gets the same URL
    r = api.get(f"/api/v1/runs/{run_id}/resume_url", params={"path": "accepted"})
    assert r.status_code == 200 and r.json()["resume_url"] == url

    first = api.client.post(resume_path(url), json={"name": "Ada", "ok": True})
    assert first.status_code == 200, first.text
    assert first.json() == {"resumed": True, "result": {"name": "Ada", "ok": True}}
    doc = wait_run(api, run_id)
    assert doc["status"] == "succeeded", doc
    assert step(doc, "accepted")["output"] == {"name": "Ada", "ok": True}
    assert step(doc, "invoice")["output"]["message"] == "accepted by Ada"

    again = api.client.post(resume_path(url), json={"name": "Eve"})
    assert again.status_code == 409
    assert again.json()["result"] == {"name": "Ada", "ok": True}  # the first result, unchanged
    assert run_id not in again.text


def test_resume_before_the_step_waits_is_409_and_unknown_token_404(flow_api: Any, server: LocalServer) -> None:
    api = flow_api
    steps = event_steps(server)
    # a delay between the URL being sent and the wait step: the URL exists but nothing waits yet
    steps.insert(1, {"key": "pause", "action": "core.delay", "config": {"seconds": 3600}})
    run_id = start(api, workflow(api, steps))
    waiting_step(api, run_id, "pause")
    url = json.loads(server.requests[0]["body"])["accept_url"]
    early = api.client.post(resume_path(url), json={})
    assert early.status_code == 409 and "not waiting yet" in early.json()["error"]["message"]
    assert api.client.post("/hooks/resume/" + "x" * 43, json={}).status_code == 404
    assert api.client.post("/hooks/resume/short", json={}).status_code == 404
    assert api.client.post(resume_path(url), content=b"{not json").status_code == 422


@pytest.mark.parametrize("on_timeout", ["fail", "continue"])
def test_wait_timeout_fails_or_continues(flow_api: Any, server: LocalServer, on_timeout: str) -> None:
    api = flow_api
    steps = event_steps(server, timeout_s=1, on_timeout=on_timeout)
    steps[2]["config"]["message"] = "timed out: {{ steps.accepted.output.timed_out }}"
    run_id = start(api, workflow(api, steps))
    doc = wait_run(api, run_id)
    url = json.loads(server.requests[0]["body"])["accept_url"]
    if on_timeout == "fail":
        assert doc["status"] == "failed" and "no event arrived within 1s" in doc["error"]
    else:
        assert doc["status"] == "succeeded", doc
        assert step(doc, "invoice")["output"]["message"] == "timed out: True"
    assert api.client.post(resume_path(url), json={}).status_code == 404  # expired


def test_resume_url_inside_a_loop_is_the_iterations_own(flow_api: Any, server: LocalServer) -> None:
    api = flow_api
    wf = workflow(api, [{"key": "each", "action": "flow.loop", "config": {"items": ["a", "b"], "concurrency": 2},
                         "steps": [
                             {"key": "ask", "action": "http.request",
                              "config": {"method": "POST", "url": server.url + "/notify",
                                         "json": {"who": "{{ loop.item }}", "url": "{{ resume_url('answer') }}"}}},
                             {"key": "answer", "action": "flow.wait_for_event", "config": {}}]}])
    run_id = start(api, wf)
    wait_for(lambda: step(run_doc(api, run_id), "each[1].answer")["status"] == "running"
             and run_doc(api, run_id)["status"] == "waiting", timeout=30)
    urls = {json.loads(r["body"])["who"]: json.loads(r["body"])["url"] for r in server.requests}
    assert urls["a"] != urls["b"]
    assert api.client.post(resume_path(urls["b"]), json={"v": "B"}).status_code == 200
    assert api.client.post(resume_path(urls["a"]), json={"v": "A"}).status_code == 200
    doc = wait_run(api, run_id)
    assert doc["status"] == "succeeded", doc
    assert [r["answer"] for r in step(doc, "each")["output"]["results"]] == [{"v": "A"}, {"v": "B"}]


# -- approvals -----------------------------------------------------------------------------------


def approval_steps(checks: bool = False) -> list[dict]:
    steps = [{"key": "ok", "action": "flow.approval",
              "config": {"message": "Approve order {{ trigger.payload.id }}?", "approver_role": "admin"}}]
    if checks:
        steps.append({"key": "on_reject", "action": "core.log", "when": "{{ not steps.ok.output.approved }}",
                      "config": {"message": "rejected: {{ steps.ok.output.comment }}"}})
    steps.append({"key": "ship", "action": "core.log", "config": {"message": "by {{ steps.ok.output.by }}"}})
    return steps


def pending_for(api: Any, run_id: str, role: str = "admin") -> dict:
    def find() -> dict | None:
        items = api.get("/api/v1/approvals", role=role).json()["items"]
        return next((a for a in items if a["run_id"] == run_id), None)

    return wait_for(find, timeout=30)


def test_approve_with_comment_resumes_the_run_and_is_audited(flow_api: Any) -> None:
    api = flow_api
    run_id = start(api, workflow(api, approval_steps()), {"id": "A-17"})
    pending = pending_for(api, run_id)
    assert pending["message"] == "Approve order A-17?" and pending["can_decide"] is True
    assert api.get("/api/v1/approvals/count", role="admin").json()["pending"] >= 1
    # a viewer sees nothing to decide and cannot decide; an editor is below the step's role
    assert api.get("/api/v1/approvals/count", role="viewer").json()["pending"] == 0
    assert api.post(f"/api/v1/approvals/{pending['id']}/approve", {}, role="viewer").status_code == 403
    assert api.post(f"/api/v1/approvals/{pending['id']}/approve", {}, role="editor").status_code == 403
    # another workspace cannot see it
    assert api.post(f"/api/v1/approvals/{pending['id']}/approve", {}, tenant=api.b).status_code == 404

    r = api.post(f"/api/v1/approvals/{pending['id']}/approve", {"comment": "fine by me"}, role="admin")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    doc = wait_run(api, run_id)
    assert doc["status"] == "succeeded", doc
    out = step(doc, "ok")["output"]
    assert out["approved"] is True and out["comment"] == "fine by me" and out["at"]
    assert step(doc, "ship")["output"]["message"] == f"by {out['by']}"
    assert api.post(f"/api/v1/approvals/{pending['id']}/reject", {}, role="admin").status_code == 409
    audit = api.get("/api/v1/audit", params={"action": "approval.approve"}).json()["items"]
    assert [(a["object_id"], a["changes"]["comment"]) for a in audit] == [(run_id, "fine by me")]


def test_rejection_fails_the_run_unless_the_next_step_checks_it(flow_api: Any) -> None:
    api = flow_api
    plain = start(api, workflow(api, approval_steps()), {"id": "B-1"})
    r = api.post(f"/api/v1/approvals/{pending_for(api, plain)['id']}/reject", {"comment": "too big"}, role="owner")
    assert r.status_code == 200, r.text
    doc = wait_run(api, plain)
    assert doc["status"] == "failed" and "rejected by" in doc["error"] and "too big" in doc["error"]
    assert step(doc, "ship")["status"] == "skipped"
    audit = api.get("/api/v1/audit", params={"action": "approval.reject"}).json()["items"]
    assert [a["object_id"] for a in audit] == [plain]

    checked = start(api, workflow(api, approval_steps(checks=True), name="Checked"), {"id": "B-2"})
    api.post(f"/api/v1/approvals/{pending_for(api, checked)['id']}/reject", {"comment": "no"}, role="admin")
    doc = wait_run(api, checked)
    assert doc["status"] == "succeeded", doc
    assert step(doc, "ok")["output"]["approved"] is False
    assert step(doc, "on_reject")["output"]["message"] == "rejected: no"


def test_approval_timeout_continue(flow_api: Any) -> None:
    api = flow_api
    steps = approval_steps(checks=True)
    steps[0]["config"].update(timeout_s=1, on_timeout="continue")
    doc = wait_run(api, start(api, workflow(api, steps)))
    assert doc["status"] == "succeeded", doc
    assert step(doc, "ok")["output"]["timed_out"] is True


# -- call_workflow -------------------------------------------------------------------------------


def test_child_success_returns_its_result_and_is_linked_both_ways(flow_api: Any) -> None:
    api = flow_api
    child = workflow(api, [
        {"key": "calc", "action": "core.log", "config": {"message": "x", "data": "{{ trigger.payload.n * 2 }}"}},
        {"key": "give", "action": "flow.return", "config": {"value": {"doubled": "{{ steps.calc.output.data }}"}}},
        {"key": "never", "action": "core.log", "config": {"message": "after return"}}], name="Child")
    parent = workflow(api, [
        {"key": "call", "action": "flow.call_workflow", "config": {"workflow_id": child, "payload": {"n": 21}}},
        {"key": "use", "action": "core.log", "config": {"message": "{{ steps.call.output.doubled }}"}}],
        name="Parent")
    run_id = start(api, parent)
    doc = wait_run(api, run_id)
    assert doc["status"] == "succeeded", doc
    assert step(doc, "call")["output"] == {"doubled": 42}
    assert step(doc, "use")["output"]["message"] == "42"
    [kid] = doc["children"]
    assert kid["parent_path"] == "call" and kid["status"] == "succeeded"
    kid_doc = run_doc(api, kid["id"])
    assert kid_doc["parent_run_id"] == run_id and kid_doc["parent_path"] == "call"
    assert step(kid_doc, "never")["status"] == "skipped"
    assert kid_doc["result_value"] == {"doubled": 42}


def test_child_without_return_gives_its_last_output_and_child_failure_fails_the_parent(flow_api: Any) -> None:
    api = flow_api
    child = workflow(api, [{"key": "last", "action": "core.log", "config": {"message": "hi"}}], name="Plain")
    parent = workflow(api, [{"key": "call", "action": "flow.call_workflow", "config": {"workflow_id": child}}])
    doc = wait_run(api, start(api, parent))
    assert step(doc, "call")["output"]["message"] == "hi"

    failing = workflow(api, [{"key": "boom", "action": "http.request", "retry": {"max_attempts": 1},
                              "config": {"method": "GET", "url": "http://127.0.0.1:9/nothing"}}], name="Failing")
    parent = workflow(api, [{"key": "call", "action": "flow.call_workflow", "config": {"workflow_id": failing}},
                            {"key": "after", "action": "core.log", "config": {"message": "no"}}], name="P2")
    doc = wait_run(api, start(api, parent))
    assert doc["status"] == "failed", doc
    assert "the called run failed" in doc["error"] and "boom" in doc["error"]
    assert step(doc, "after")["status"] == "skipped"


def test_cancelling_the_parent_cancels_the_waiting_child(flow_api: Any) -> None:
    api = flow_api
    child = workflow(api, [{"key": "hold", "action": "core.delay", "config": {"hours": 1}}], name="Slow child")
    parent = workflow(api, [{"key": "call", "action": "flow.call_workflow", "config": {"workflow_id": child}}])
    run_id = start(api, parent)
    doc = waiting_step(api, run_id, "call")
    kid = wait_for(lambda: run_doc(api, run_id)["children"], timeout=30)[0]
    wait_run(api, kid["id"], ("waiting",))
    assert api.post(f"/api/v1/runs/{run_id}/cancel", {}).status_code == 200
    assert run_doc(api, kid["id"])["status"] == "cancelled"
    assert doc["status"] == "waiting"


def test_recursion_is_refused_at_depth_6(flow_api: Any) -> None:
    api = flow_api
    wf = api.create_workflow({"name": "Self", "trigger": {"type": "manual", "config": {}}, "steps": []})
    definition = {"name": "Self", "trigger": {"type": "manual", "config": {}}, "steps": [
        {"key": "again", "action": "flow.call_workflow", "config": {"workflow_id": wf["id"]}}]}
    assert api.client.put(f"/api/v1/workflows/{wf['id']}", json=definition,
                          headers=api.a.auth()).status_code == 200
    top = start(api, wf["id"])
    doc = wait_run(api, top, timeout=90)
    assert doc["status"] == "failed", doc
    chain, run = [top], doc
    while run["children"]:
        run = run_doc(api, run["children"][0]["id"])
        chain.append(run["id"])
    assert len(chain) == 5  # depths 1..5 ran; the sixth was refused
    assert "calls nest at most 5 runs deep" in run["error"]


def test_another_workspaces_workflow_is_not_found(flow_api: Any) -> None:
    api = flow_api
    theirs = workflow(api, [{"key": "x", "action": "core.log", "config": {"message": "x"}}], tenant=api.b)
    doc = wait_run(api, start(api, workflow(api, [
        {"key": "call", "action": "flow.call_workflow", "config": {"workflow_id": theirs}}])))
    assert doc["status"] == "failed" and f"workflow {theirs!r} not found in this workspace" in doc["error"]
    assert doc["children"] == []


# -- validation ----------------------------------------------------------------------------------


def test_nested_validation_errors_point_at_the_field(flow_api: Any) -> None:
    api = flow_api
    bad = {"name": "Bad", "steps": [
        {"key": "a", "action": "core.log", "config": {"message": "x"}},
        {"key": "each", "action": "flow.loop", "config": {"items": []}, "steps": [
            {"key": "call", "action": "http.request", "config": {"method": "GET", "url": 5}}]}]}
    r = api.post("/api/v1/workflows", bad)
    assert r.status_code == 422
    assert "steps.1.steps.0.config.url" in r.json()["error"]["fields"]

    def loops(depth: int) -> dict:
        inner: list = [{"key": f"leaf{depth}", "action": "core.log", "config": {"message": "x"}}]
        for level in range(depth):
            inner = [{"key": f"loop{level}", "action": "flow.loop", "config": {"items": []}, "steps": inner}]
        return {"name": "Deep", "steps": inner}

    assert api.post("/api/v1/workflows", loops(4)).status_code == 201
    r = api.post("/api/v1/workflows", loops(5))
    assert r.status_code == 422
    assert r.json()["error"]["fields"]["steps.0.steps.0.steps.0.steps.0.steps.0.action"] == "loops nest at most 4 deep"

    many = {"name": "Many", "steps": [{"key": "each", "action": "flow.loop", "config": {"items": []}, "steps": [
        {"key": f"s{i}", "action": "core.log", "config": {"message": "x"}} for i in range(100)]}]}
    r = api.post("/api/v1/workflows", many)
    assert r.status_code == 422 and "at most 100 steps" in r.json()["error"]["fields"]["steps"]

    dup = {"name": "Dup", "steps": [
        {"key": "route", "action": "flow.branch", "branches": [
            {"key": "a", "when": "{{ true }}",
             "steps": [{"key": "x", "action": "core.log", "config": {"message": "1"}}]},
            {"key": "b", "steps": [{"key": "x", "action": "core.log", "config": {"message": "2"}}]}]}]}
    fields = api.post("/api/v1/workflows", dup).json()["error"]["fields"]
    assert "duplicate step key 'x'" in fields["steps.0.branches.1.steps.0.key"]
    assert "needs a condition" in fields["steps.0.branches.1.when"]


def test_nested_definitions_export_as_saved(flow_api: Any) -> None:
    api = flow_api
    definition = {"name": "Round trip", "trigger": {"type": "manual", "config": {}}, "steps": [
        {"key": "route", "action": "flow.branch", "config": {"mode": "all_match"}, "branches": [
            {"key": "yes", "name": "Yes", "when": "{{ true }}", "steps": [
                {"key": "each", "action": "flow.loop", "config": {"items": [1]}, "steps": [
                    {"key": "note", "action": "core.log", "config": {"message": "x"}, "on_error": "continue"}]}]},
            {"key": "no", "default": True, "steps": []}]}]}
    wf = api.create_workflow(definition)
    exported = api.get(f"/api/v1/workflows/{wf['id']}/export").json()
    assert exported["steps"][0]["branches"] == [
        {"key": "yes", "name": "Yes", "when": "{{ true }}", "steps": [
            {"key": "each", "action": "flow.loop", "config": {"items": [1]}, "steps": [
                {"key": "note", "action": "core.log", "config": {"message": "x"}, "on_error": "continue"}]}]},
        {"key": "no", "default": True, "steps": []}]
