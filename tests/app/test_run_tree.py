"""The run page's tree (issue 11) from a run document: branch taken/skipped, loop iterations with
a status each, paged at 50 with a failed-only filter, and approvals, resume URLs and child runs
attached to their step; and why a member cannot decide an approval."""

from __future__ import annotations

from flowmate_app.features.approvals.views import approval_view, cannot_decide_reason
from flowmate_app.features.runs.tree_view import TreeContext, build_tree

DEFINITION = {"steps": [
    {"key": "each", "action": "flow.loop", "config": {"items": "{{ trigger.payload.items }}"},
     "steps": [{"key": "push", "action": "http.request", "config": {}}]},
    {"key": "pick", "action": "flow.branch", "config": {},
     "branches": [{"key": "many", "name": "Many", "when": "{{ true }}",
                   "steps": [{"key": "ok", "action": "flow.approval", "config": {}}]},
                  {"key": "few", "name": "Few", "default": True,
                   "steps": [{"key": "few_log", "action": "core.log", "config": {}}]}]},
    {"key": "wait", "action": "flow.wait_for_event", "config": {}},
    {"key": "child", "action": "flow.call_workflow", "config": {}},
]}


def _step(path: str, status: str, output=None, key: str | None = None, action: str = "core.log") -> dict:
    key = key or path.rsplit(".", 1)[-1]
    return {"key": key, "path": path, "action": action, "name": "", "status": status, "attempts": 1,
            "output": output, "error": "boom" if status == "failed" else None, "duration_ms": 3}


def _document(n: int, failed: set[int]) -> list[dict]:
    steps = [_step("each", "succeeded", {"count": n, "results": []}, action="flow.loop")]
    steps += [_step(f"each[{i}].push", "failed" if i in failed else "succeeded", key="push") for i in range(n)]
    steps += [_step("pick", "succeeded", {"taken": ["many"]}, action="flow.branch"),
              _step("ok", "running", action="flow.approval"), _step("few_log", "skipped"),
              _step("wait", "running", action="flow.wait_for_event"), _step("child", "succeeded")]
    return steps


def test_loop_iterations_are_paged_and_filtered() -> None:
    steps = _document(120, failed={3, 77})
    loop = build_tree(DEFINITION, steps, TreeContext())[0]
    assert loop.kind == "loop" and loop.iteration_total == 120 and loop.iteration_failed == 2
    assert len(loop.iterations) == 50 and loop.pages == 3 and loop.iterations[0].label == "#1"
    assert loop.iterations[3].status == "failed" and loop.iterations[3].steps[0].error == "boom"
    third = build_tree(DEFINITION, steps, TreeContext(pages={"each": 3}))[0]
    assert [it.index for it in third.iterations] == list(range(100, 120))
    failed = build_tree(DEFINITION, steps, TreeContext(failed_only={"each": True}, pages={"each": 9}))[0]
    assert [it.index for it in failed.iterations] == [3, 77] and failed.page == 1 and failed.pages == 1


def test_branch_taken_and_skipped_and_attachments() -> None:
    from flowmate_app.features.approvals.views import ApprovalView

    approval = ApprovalView(id="a1", run_id="r", run_short="r", workflow_id="w", workflow_name="W", step_path="ok",
                            message="OK?", approver_role="editor", status="pending", created="", ago="", expires="",
                            decided_by="", comment="", can_decide=True, reason="")
    ctx = TreeContext(approvals={"ok": [approval]}, resume_urls={"wait": "http://x/hooks/resume/t"},
                      children={"child": {"id": "c" * 32, "status": "succeeded", "workflow_name": "Invoice"}})
    tree = build_tree(DEFINITION, _document(2, set()), ctx)
    pick = tree[1]
    assert pick.kind == "branch" and [(lane.key, lane.state) for lane in pick.lanes] == [("many", "taken"),
                                                                                        ("few", "skipped")]
    assert pick.lanes[0].nodes[0].row.approvals == [approval]
    assert pick.lanes[1].nodes[0].row.status == "skipped"
    assert tree[2].row.resume_url.endswith("/hooks/resume/t")
    assert tree[3].row.child_run_id == "c" * 32 and tree[3].row.child_name == "Invoice"


def test_a_run_that_has_not_reached_a_step_shows_it_pending() -> None:
    tree = build_tree(DEFINITION, [_step("each", "running", action="flow.loop"),
                                   _step("each[0].push", "running", key="push")], TreeContext())
    assert tree[0].iterations[0].status == "running"
    assert tree[1].row.status == "pending" and {lane.state for lane in tree[1].lanes} == {"pending"}
    # A branch still running (waiting for its approval): the lane whose step started is the taken one.
    running = build_tree(DEFINITION, [_step("pick", "running", action="flow.branch"),
                                      _step("ok", "running", action="flow.approval")], TreeContext())[1]
    assert [lane.state for lane in running.lanes] == ["taken", "pending"]


def test_why_a_member_cannot_decide() -> None:
    assert cannot_decide_reason("viewer", "editor", "pending").startswith("Viewers cannot approve")
    assert cannot_decide_reason("editor", "admin", "pending") == "Needs the admin role to decide (you are editor)."
    assert cannot_decide_reason("admin", "admin", "approved") == "Already approved."
    view = approval_view({"id": "a", "run_id": "r" * 32, "step_path": "ok", "message": "OK?", "approver_role": "admin",
                          "status": "pending", "can_decide": False, "created_at": None}, "editor", "UTC")
    assert not view.can_decide and "admin role" in view.reason and view.run_short == "r" * 8
