"""The run page's step tree (issue 11), built from the run document and the run's definition.

The run document (engine.services.runs.run_public) lists every executed or skipped step in
execution order with its ``path`` (``key``, or ``loop[i].key`` inside loops); the definition
snapshot says which branch or loop each step sits in. Together they give the tree the page draws:
a branch step's branches (the taken one highlighted, the others greyed), a loop's iterations as a
compact, paged list with a status each (its inner steps flat, in execution order), and per step
its approval, resume URL and child run. Pure Python: unit-tested without a browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine.definition import BRANCH_ACTION, LOOP_ACTION
from flowmate_app.features.approvals.views import ApprovalView
from flowmate_app.formatting import fmt_duration, fmt_time, pretty_json

ITERATIONS_PER_PAGE = 50
STARTED = frozenset({"running", "succeeded", "failed"})
#: Branches inside branches are drawn this deep; deeper steps still show in execution order.
MAX_TREE_DEPTH = 3


@dataclass
class StepRow:
    """One executed (or pending/skipped) step, with what the page shows about it."""

    n: str
    key: str
    path: str
    action: str
    name: str
    status: str
    attempts: str = "0"
    attempts_label: str = ""
    retries: str = ""
    duration: str = ""
    started: str = ""
    input: str = ""
    output: str = ""
    error: str = ""
    warning: bool = False
    resume_url: str = ""
    child_run_id: str = ""
    child_status: str = ""
    child_name: str = ""
    approvals: list[ApprovalView] = field(default_factory=list)


@dataclass
class IterationView:
    index: int
    label: str
    status: str
    steps: list[StepRow] = field(default_factory=list)


@dataclass
class LaneRun:
    """One branch of a branch step in this run."""

    key: str
    name: str
    state: str  # "taken", "skipped" or "pending"
    nodes: list[RunNode] = field(default_factory=list)


@dataclass
class RunNode:
    row: StepRow
    kind: str = "step"  # "step", "branch" or "loop"
    lanes: list[LaneRun] = field(default_factory=list)
    # loops
    iterations: list[IterationView] = field(default_factory=list)
    iteration_total: int = 0
    iteration_failed: int = 0
    page: int = 1
    pages: int = 1
    failed_only: bool = False
    too_deep: bool = False


@dataclass
class TreeContext:
    """What building the tree needs besides the steps: per step path its approvals, resume URL
    and child run, and each loop's page and filter (keyed by the loop's path)."""

    approvals: dict[str, list[ApprovalView]] = field(default_factory=dict)
    resume_urls: dict[str, str] = field(default_factory=dict)
    children: dict[str, dict[str, Any]] = field(default_factory=dict)
    pages: dict[str, int] = field(default_factory=dict)
    failed_only: dict[str, bool] = field(default_factory=dict)
    tz: str = "UTC"


def step_row(s: dict[str, Any], n: int, ctx: TreeContext) -> StepRow:
    child = ctx.children.get(s["path"]) or {}
    attempts = int(s.get("attempts") or 0)
    return StepRow(
        n=str(n), key=s["key"], path=s["path"], action=s["action"], name=s.get("name") or s["key"],
        status=s["status"], attempts=str(attempts),
        attempts_label="1 attempt" if attempts == 1 else f"{attempts} attempts",
        retries=", ".join(fmt_duration(float(d) * 1000) for d in (s.get("retry_delays") or [])),
        duration=fmt_duration(s["duration_ms"]) if s.get("duration_ms") is not None else "",
        started=fmt_time(s["started_at"], ctx.tz, seconds=True) if s.get("started_at") else "",
        input=pretty_json(s["input"]) if s.get("input") is not None else "",
        output=pretty_json(s["output"]) if s.get("output") is not None else "",
        error=s.get("error") or "", warning=bool(s.get("warning")),
        resume_url=ctx.resume_urls.get(s["path"], ""), child_run_id=child.get("id", ""),
        child_status=child.get("status", ""), child_name=child.get("workflow_name") or "",
        approvals=list(ctx.approvals.get(s["path"], [])),
    )


def _pending(step: dict[str, Any], path: str) -> dict[str, Any]:
    return {"key": step["key"], "path": path, "action": step.get("action", ""), "name": step.get("name") or "",
            "status": "pending", "attempts": 0}


def _iteration_status(rows: list[StepRow]) -> str:
    statuses = {r.status for r in rows}
    for status in ("running", "waiting", "failed"):
        if status in statuses:
            return status
    if statuses and statuses <= {"succeeded", "skipped"}:
        return "succeeded"
    return "pending" if not statuses else "running"


def build_tree(definition: dict[str, Any], steps: list[dict[str, Any]], ctx: TreeContext) -> list[RunNode]:
    """The top-level nodes of the run's tree (see module docstring)."""
    by_path = {s["path"]: s for s in steps}
    counter = iter(range(1, 1_000_000))

    def nodes(defs: list[dict[str, Any]], prefix: str, depth: int) -> list[RunNode]:
        return [node(d, prefix, depth) for d in defs or [] if isinstance(d, dict) and d.get("key")]

    def node(d: dict[str, Any], prefix: str, depth: int) -> RunNode:
        path = prefix + d["key"]
        s = by_path.get(path) or _pending(d, path)
        out = RunNode(row=step_row(s, next(counter), ctx))
        if d.get("action") == BRANCH_ACTION:
            out.kind = "branch"
            taken = set(((s.get("output") or {}) if isinstance(s.get("output"), dict) else {}).get("taken") or [])
            decided = s["status"] in ("succeeded", "failed", "skipped")
            for branch in d.get("branches") or []:
                state = "taken" if branch.get("key") in taken else ("skipped" if decided else "pending")
                lane = LaneRun(key=branch.get("key", ""), name=branch.get("name") or branch.get("key", ""),
                               state=state)
                if depth + 1 < MAX_TREE_DEPTH:
                    lane.nodes = nodes(branch.get("steps") or [], prefix, depth + 1)
                else:
                    out.too_deep = True
                if state == "pending" and any(n.row.status in STARTED for n in lane.nodes):
                    lane.state = "taken"  # still running (its output, with "taken", comes at the end)
                out.lanes.append(lane)
        elif d.get("action") == LOOP_ACTION:
            out.kind = "loop"
            _loop(out, d, path, steps, ctx)
        return out

    return nodes(definition.get("steps") or [], "", 0)


def _loop(out: RunNode, d: dict[str, Any], path: str, steps: list[dict[str, Any]], ctx: TreeContext) -> None:
    """A loop's iterations: every step whose path starts ``<loop path>[i].``, grouped by ``i``."""
    pattern = re.compile(re.escape(path) + r"\[(\d+)\]\.")
    grouped: dict[int, list[StepRow]] = {}
    n = 0
    for s in steps:
        match = pattern.match(s["path"])
        if match:
            n += 1
            grouped.setdefault(int(match.group(1)), []).append(step_row(s, n, ctx))
    output = next((s.get("output") for s in steps if s["path"] == path), None)
    count = output.get("count") if isinstance(output, dict) and isinstance(output.get("count"), int) else 0
    total = max(count, max(grouped, default=-1) + 1)
    iterations = [IterationView(index=i, label=f"#{i + 1}", status=_iteration_status(grouped.get(i, [])),
                                steps=grouped.get(i, [])) for i in range(total)]
    out.iteration_total = total
    out.iteration_failed = sum(1 for it in iterations if it.status == "failed")
    out.failed_only = bool(ctx.failed_only.get(path))
    shown = [it for it in iterations if it.status == "failed"] if out.failed_only else iterations
    out.pages = max(1, -(-len(shown) // ITERATIONS_PER_PAGE))
    out.page = min(max(1, ctx.pages.get(path, 1)), out.pages)
    start = (out.page - 1) * ITERATIONS_PER_PAGE
    out.iterations = shown[start:start + ITERATIONS_PER_PAGE]


def flat_paths(tree: list[RunNode]) -> list[str]:
    """Every step path drawn (tests: what the page shows, in order)."""
    out: list[str] = []
    for node in tree:
        out.append(node.row.path)
        for lane in node.lanes:
            out += flat_paths(lane.nodes)
        for it in node.iterations:
            out += [r.path for r in it.steps]
    return out
