"""Walk a run's step tree: plain steps, flow.branch, flow.loop, in order, durably.

The executor claims the run and builds the expression context; :class:`FlowRunner` then walks
the definition snapshot and calls the executor's ``_run_step`` for every plain step (so `when`,
retries, timeouts, rendering budgets and redaction work the same at any depth). What it adds:

- every step execution has a path (engine.flow.paths) and a row per path; a resumed run loads
  the rows and skips every step whose path already finished, so a finished iteration or branch
  step never runs again, and a crash in iteration 37 resumes at iteration 37;
- a branch step records its decision (``{"taken": [...]}``) before running the taken
  branches, and records the steps of the other branches ``skipped``; what follows the branch
  step always runs (an empty branch never blocks it);
- a loop renders its items once per attempt, runs up to ``concurrency`` iterations at a time,
  each with a fresh ``steps`` scope (an inner loop starts fresh in every outer iteration), and
  ends with ``{"count", "results"}``;
- ``on_error: continue`` records the failure and goes on; the run then succeeds with a warning;
- a waiting step anywhere (retry delay, core.delay, approval, event, child run) parks the whole
  run: the executor releases it, no thread is held, and the shortest wait decides when the
  queue brings it back;
- limits: 10,000 step executions per run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from engine import metrics
from engine.actions.flow_loop import Config as LoopConfig
from engine.datalimits import storable_step_data
from engine.db import utcnow
from engine.definition import BRANCH_ACTION, LOOP_ACTION, walk_steps
from engine.errors import StepError
from engine.expressions import evaluate_condition, render, render_budget
from engine.flow.handle import FlowHandle, notify_parent, recheck_waits
from engine.flow.paths import iteration_prefix, located, path_for
from engine.models import StepStatus
from engine.states import STEP_DONE_STATES, ExecOutcome

#: The most step executions one run may have (loop iterations count one per inner step).
MAX_EXECUTIONS = 10_000
RETURN_ACTION = "flow.return"


@dataclass
class TreeResult:
    """What walking a list of steps came to."""

    status: ExecOutcome
    requeue_in: float | None = None
    error: str | None = None
    failed_key: str | None = None
    reason: str | None = None
    #: The index in the top-level list where the run stopped (its later steps are recorded skipped).
    top_index: int | None = None
    output: Any = None


_OK = TreeResult(ExecOutcome.succeeded)


def _worst(results: list[TreeResult]) -> TreeResult:
    """Of concurrent iterations' results, the one that decides: a failure, then a stop or
    return, then the soonest wait; else success."""
    for status in (ExecOutcome.failed, ExecOutcome.stopped):
        for res in results:
            if res.status == status:
                return res
    waits = [r for r in results if r.status == ExecOutcome.waiting]
    if waits:
        return min(waits, key=lambda r: r.requeue_in or 0.0)
    return _OK


class FlowRunner:
    """One attempt at one run's step tree (built per claim by the executor)."""

    def __init__(self, executor: Any, run: dict[str, Any], bound: Any, done: dict[str, dict[str, Any]],
                 context: dict[str, Any]) -> None:
        self.ex = executor
        self.run_row = run
        self.bound = bound
        self.done = done
        self.context = context
        self.definition = run["definition"] or {}
        self.position = max((r["position"] or 0 for r in done.values()), default=-1) + 1
        self.executed = 0
        self.total = len(done)
        self.scopes = {scope.key: scope for scope in walk_steps(self.definition)}
        continues = {k for k, sc in self.scopes.items() if sc.step.get("on_error") == "continue"}
        self.warnings = sum(1 for r in done.values()
                            if r["status"] == StepStatus.failed.value and r["step_key"] in continues)
        self.handles: list[FlowHandle] = []
        context["resume_url"] = self._resume_url_function({})
        context.setdefault("loops", {})

    # -- entry --------------------------------------------------------------------------------

    async def run(self) -> TreeResult:
        return await self.run_list(self.definition.get("steps", []), "", None, self.context, top=True)

    def after_park(self) -> None:
        """Close the race between a decision and our park: re-check every wait we parked on."""
        recheck_waits(self.handles)

    def after_finish(self) -> None:
        """A child run finished: wake its waiting parent now (not at the parent's next poll)."""
        if self.run_row.get("parent_run_id"):
            notify_parent(self.run_row["parent_run_id"])

    def warning_text(self) -> str | None:
        if not self.warnings:
            return None
        plural = "s" if self.warnings != 1 else ""
        return f"{self.warnings} step{plural} failed and the run went on (on_error: continue)"

    def next_position(self) -> int:
        position = self.position
        self.position += 1
        return position

    # -- lists --------------------------------------------------------------------------------

    async def run_list(self, steps: list[dict[str, Any]], prefix: str, iteration: int | None,
                       ctx: dict[str, Any], *, top: bool = False) -> TreeResult:
        for index, step in enumerate(steps):
            key = step["key"]
            path = prefix + key
            prior = self.done.get(path)
            if prior and (prior["status"] in STEP_DONE_STATES or self._continued(step, prior)):
                ctx["steps"][key] = {"output": prior["output"], "status": prior["status"]}
                if step["action"] == RETURN_ACTION and prior["status"] == StepStatus.succeeded.value:
                    return TreeResult(ExecOutcome.stopped, reason=None, top_index=index if top else None)
                continue
            action = step["action"]
            if action == BRANCH_ACTION:
                res = await self.run_branch(step, path, iteration, prior, ctx)
            elif action == LOOP_ACTION:
                res = await self.run_loop(step, path, iteration, prior, ctx)
            else:
                res = await self.run_leaf(step, path, iteration, prior, ctx, steps, index)
            if res.status in (ExecOutcome.succeeded, ExecOutcome.skipped):
                ctx["steps"][key] = {"output": res.output, "status": res.status.value}
                if action == RETURN_ACTION and res.status == ExecOutcome.succeeded:
                    return TreeResult(ExecOutcome.stopped, reason=None, top_index=index if top else None)
                continue
            if res.status == ExecOutcome.failed and step.get("on_error") == "continue":
                self.warnings += 1
                ctx["steps"][key] = {"output": {"error": res.error}, "status": StepStatus.failed.value}
                continue
            if top:
                res.top_index = index
            return res
        return _OK

    @staticmethod
    def _continued(step: dict[str, Any], prior: dict[str, Any]) -> bool:
        return prior["status"] == StepStatus.failed.value and step.get("on_error") == "continue"

    # -- plain steps --------------------------------------------------------------------------

    async def run_leaf(self, step: dict[str, Any], path: str, iteration: int | None, prior: dict[str, Any] | None,
                       ctx: dict[str, Any], siblings: list[dict[str, Any]], index: int) -> TreeResult:
        at = located(step, path, iteration)
        position = prior["position"] if prior else self.next_position()
        if not prior and self.total >= MAX_EXECUTIONS:
            message = f"more than {MAX_EXECUTIONS:,} step executions: a run may execute at most {MAX_EXECUTIONS:,}"
            self.ex._fail_step(self.run_row["id"], at, position, prior, message, None)
            return TreeResult(ExecOutcome.failed, error=message, failed_key=path)
        handle = FlowHandle(self, path, step, siblings, index)
        step_log = self.bound.bind(step_key=step["key"], action=step["action"], path=path)
        t0 = time.perf_counter()
        out = await self.ex._run_step(self.run_row, at, position, prior, ctx, step_log, flow=handle)
        metrics.record_step(step["action"], out.status, time.perf_counter() - t0)
        if not prior:
            self.total += 1
        if out.status != ExecOutcome.skipped:
            self.executed += 1
        if out.status == ExecOutcome.waiting and handle.watching:
            self.handles.append(handle)
        if out.status in (ExecOutcome.succeeded, ExecOutcome.skipped):
            return TreeResult(out.status, output=out.detail.get("output"))
        if out.status == ExecOutcome.stopped:
            return TreeResult(ExecOutcome.stopped, reason=out.detail.get("reason"))
        if out.status == ExecOutcome.waiting:
            return TreeResult(ExecOutcome.waiting, requeue_in=out.requeue_in)
        return TreeResult(ExecOutcome.failed, error=out.error, failed_key=path)

    # -- containers ---------------------------------------------------------------------------

    def _write(self, step: dict[str, Any], path: str, iteration: int | None, position: int,
               prior: dict[str, Any] | None, status: StepStatus, *, output: Any = None, error: str | None = None,
               input: Any = None, finished: bool = False, defer: bool = False) -> dict[str, Any]:
        """Record a container step's (or a skipped step's) row; returns the new ``prior``."""
        at = located(step, path, iteration)
        self.ex._write_step(self.run_row["id"], at, position, prior, status=status, finished=finished,
                            attempts=(prior or {}).get("attempts") or 1, input=input, output=output, error=error,
                            started=utcnow(), defer=defer)
        row = {"attempts": (prior or {}).get("attempts") or 1, "retry_delays": [], "exists": True,
               "started_at": (prior or {}).get("started_at") or utcnow(), "position": position,
               "status": status.value, "output": output}
        self.done[path] = {**(prior or {}), **row, "step_key": step["key"]}
        return self.done[path]

    def _condition(self, source: str | None, ctx: dict[str, Any]) -> bool:
        settings = self.ex.settings
        with render_budget(settings.expression_max_operations, settings.expression_max_seconds):
            return evaluate_condition(source, ctx) if source else True

    def _fail_container(self, step: dict[str, Any], path: str, iteration: int | None, position: int,
                        prior: dict[str, Any] | None, message: str, key: str | None = None) -> TreeResult:
        self._write(step, path, iteration, position, prior, StepStatus.failed, error=message, finished=True,
                    output={"error": message} if step.get("on_error") == "continue" else None)
        return TreeResult(ExecOutcome.failed, error=message, failed_key=key or path)

    def _record_skipped(self, steps: list[dict[str, Any]], prefix: str, iteration: int | None) -> None:
        """Rows ``skipped`` for steps that will not run here (a branch not taken, a skipped
        container): nested branches included; a loop's inner steps have no iteration to name."""
        for step in steps:
            path = prefix + step["key"]
            if path in self.done:
                continue
            self._write(step, path, iteration, self.next_position(), None, StepStatus.skipped, finished=True,
                        defer=True)
            for branch in step.get("branches") or []:
                self._record_skipped(branch.get("steps") or [], prefix, iteration)

    async def run_branch(self, step: dict[str, Any], path: str, iteration: int | None,
                         prior: dict[str, Any] | None, ctx: dict[str, Any]) -> TreeResult:
        mode = (step.get("config") or {}).get("mode", "first_match")
        branches = step.get("branches") or []
        prefix = path[: len(path) - len(step["key"])]
        position = prior["position"] if prior else self.next_position()
        taken: list[str] | None = None
        if prior and isinstance(prior.get("output"), dict) and isinstance(prior["output"].get("taken"), list):
            taken = prior["output"]["taken"]  # decided before a crash or a wait: never re-decided
        if taken is None:
            try:
                if step.get("when") and not self._condition(step["when"], ctx):
                    self._write(step, path, iteration, position, prior, StepStatus.skipped, finished=True,
                                defer=True)
                    for branch in branches:
                        self._record_skipped(branch.get("steps") or [], prefix, iteration)
                    return TreeResult(ExecOutcome.skipped)
                taken = []
                for branch in branches:
                    if branch.get("default"):
                        continue
                    try:
                        if self._condition(branch.get("when"), ctx):
                            taken.append(branch["key"])
                    except StepError as exc:
                        raise StepError(f"branch {branch['key']!r}: {exc}") from None
                    if taken and mode == "first_match":
                        break
                if not taken:
                    taken = [b["key"] for b in branches if b.get("default")][:1]
            except StepError as exc:
                return self._fail_container(step, path, iteration, position, prior, str(exc))
            prior = self._write(step, path, iteration, position, prior, StepStatus.running,
                                output={"taken": taken})
            for branch in branches:
                if branch["key"] not in taken:
                    self._record_skipped(branch.get("steps") or [], prefix, iteration)
        for branch in branches:
            if branch["key"] not in taken:
                continue
            res = await self.run_list(branch.get("steps") or [], prefix, iteration, ctx)
            if res.status == ExecOutcome.failed:
                self._fail_container(step, path, iteration, position, prior,
                                     f"step {res.failed_key!r} failed: {res.error}")
                return res
            if res.status == ExecOutcome.stopped:  # the run ends here (core.filter, flow.return)
                self._write(step, path, iteration, position, prior, StepStatus.succeeded, finished=True,
                            output={"taken": taken})
                return res
            if res.status != ExecOutcome.succeeded:
                return res  # waiting: the branch step stays running
        output = {"taken": taken}
        self._write(step, path, iteration, position, prior, StepStatus.succeeded, output=output, finished=True)
        return TreeResult(ExecOutcome.succeeded, output=output)

    async def run_loop(self, step: dict[str, Any], path: str, iteration: int | None,
                       prior: dict[str, Any] | None, ctx: dict[str, Any]) -> TreeResult:
        key = step["key"]
        prefix = path[: len(path) - len(key)]
        position = prior["position"] if prior else self.next_position()
        inner = step.get("steps") or []
        settings = self.ex.settings
        try:
            if not prior and step.get("when") and not self._condition(step["when"], ctx):
                self._write(step, path, iteration, position, prior, StepStatus.skipped, finished=True, defer=True)
                return TreeResult(ExecOutcome.skipped)
            with render_budget(settings.expression_max_operations, settings.expression_max_seconds):
                rendered = render(step.get("config") or {}, ctx)
            config = self.ex_validate(LoopConfig, rendered)
        except StepError as exc:
            return self._fail_container(step, path, iteration, position, prior, str(exc))
        items = config.items
        if not isinstance(items, list):
            kind = "nothing" if items is None else type(items).__name__
            return self._fail_container(step, path, iteration, position, prior,
                                        f"items must be a list; got {kind}")
        if len(items) > config.max_items:
            if not config.truncate:
                return self._fail_container(
                    step, path, iteration, position, prior,
                    f"items has {len(items):,} entries, more than max_items ({config.max_items:,}); "
                    "set truncate: true to loop over the first max_items")
            items = items[: config.max_items]
        if not prior:
            prior = self._write(step, path, iteration, position, prior, StepStatus.running,
                                input={"count": len(items), "concurrency": config.concurrency})
        count = len(items)
        results: list[dict[str, Any] | None] = [None] * count

        async def one(i: int) -> TreeResult:
            item_vars = {"item": items[i], "index": i, "first": i == 0, "last": i == count - 1}
            loops = {**ctx.get("loops", {}), key: item_vars}
            ictx = {**ctx, "steps": dict(ctx["steps"]), "loop": item_vars, "loops": loops}
            ictx["resume_url"] = self._resume_url_function({k: v["index"] for k, v in loops.items()})
            res = await self.run_list(inner, iteration_prefix(prefix, key, i), i, ictx)
            results[i] = {s["key"]: ictx["steps"][s["key"]]["output"] for s in inner if s["key"] in ictx["steps"]}
            return res

        outcome = await self._iterate(one, count, config.concurrency)
        if outcome.status == ExecOutcome.failed:
            self._fail_container(step, path, iteration, position, prior,
                                 f"step {outcome.failed_key!r} failed: {outcome.error}")
            return outcome
        if outcome.status == ExecOutcome.stopped:  # the run ends here (core.filter, flow.return)
            done = [r for r in results if r is not None]
            self._write(step, path, iteration, position, prior, StepStatus.succeeded, finished=True,
                        output=storable_step_data({"count": len(done), "results": done, "stopped": True},
                                                  settings.step_data_max_bytes))
            return outcome
        if outcome.status != ExecOutcome.succeeded:
            return outcome
        output = storable_step_data({"count": count, "results": results}, settings.step_data_max_bytes)
        self._write(step, path, iteration, position, prior, StepStatus.succeeded, output=output, finished=True)
        return TreeResult(ExecOutcome.succeeded, output=output)

    def ex_validate(self, model: Any, rendered: Any) -> Any:
        from engine.errors import PermanentError

        try:
            return model.model_validate(rendered)
        except Exception as exc:  # pydantic ValidationError: name the fields
            errors = getattr(exc, "errors", None)
            if callable(errors):
                detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors())
                raise PermanentError(f"invalid config: {detail}") from None
            raise

    async def _iterate(self, one: Any, count: int, concurrency: int) -> TreeResult:
        """Run ``one(i)`` for every index, ``concurrency`` at a time, in index order. After a
        failure, a stop or a wait no new iteration starts; those in flight finish."""
        if concurrency <= 1:
            for i in range(count):
                res = await one(i)
                if res.status != ExecOutcome.succeeded:
                    return res
            return _OK
        results: list[TreeResult] = []
        next_index = 0
        running: set[asyncio.Task[TreeResult]] = set()
        try:
            while next_index < count or running:
                halted = any(r.status != ExecOutcome.succeeded for r in results)
                while not halted and next_index < count and len(running) < concurrency:
                    running.add(asyncio.ensure_future(one(next_index)))
                    next_index += 1
                if not running:
                    break
                finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                results.extend(task.result() for task in finished)
        except BaseException:
            # The lease was lost or the database went away: stop the other iterations too.
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            raise
        return _worst(results)

    # -- expressions --------------------------------------------------------------------------

    def _resume_url_function(self, indices: dict[str, int]) -> Any:
        """``resume_url('wait_key')`` for expressions: the URL of that wait step's execution in
        the current iteration (registered now, so a POST before it waits answers 409)."""
        from engine.flow.handle import register_resume_url

        def resume_url(key: str) -> str:
            scope = self.scopes.get(str(key))
            if scope is None or scope.step.get("action") != "flow.wait_for_event":
                raise StepError(f"resume_url({key!r}): no flow.wait_for_event step has that key")
            try:
                path = path_for(scope.loops, indices, scope.key)
            except KeyError as missing:
                raise StepError(f"resume_url({key!r}): that step is inside loop {missing}, "
                                "which this step is not in") from None
            return register_resume_url(self.run_row["id"], path)

        return resume_url
