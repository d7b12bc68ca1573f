"""Execute one Run: claim it with a lease, run its steps in order, record every state change.

Rules (docs/architecture.md, "Execution rules"):
- claim with ONE conditional UPDATE, so two workers can never hold the same run;
- finished steps never run again: a retried or recovered run resumes at the first unfinished step;
- retries and delays are scheduled as delayed queue messages, never slept in a worker thread;
- every write re-checks the lease, so a worker that lost its lease (or a cancelled run) stops;
- leases and schedules use the database's clock (engine.db.db_clock), never this process's;
- a lost database connection is retried, never turned into a failed run (``_with_db_retry``);
- one workspace runs at most ``workspace_cap`` runs at once in this process; more are deferred
  (parked here and re-queued the moment one of its runs finishes, with a delayed message as a
  fallback), so another workspace always finds a free thread and a flood does not churn;
- a step's expressions render inside a budget (operations and seconds) within its timeout.

The hot path uses SQLAlchemy Core statements: the ORM costs too much per step at hundreds of
runs per second.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import bindparam, case, func, insert, null, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from engine import bus, metrics, tracing
from engine.config import Settings, get_settings
from engine.context import ActionContext, ConnectionData
from engine.datalimits import storable_step_data
from engine.db import as_aware, db_clock, get_engine, is_connection_error, is_outage, utcnow
from engine.definition import RetryPolicy, pydantic_fields
from engine.errors import PermanentError, RetryableError, SkipStep, StepError, StopRun, Suspend
from engine.expressions import evaluate_condition, render, render_budget
from engine.flow.paths import ITERATION, PATH
from engine.flow.runner import FlowRunner
from engine.jsoncodec import clean_text
from engine.messaging import UNSUBSCRIBE_PLACEHOLDER
from engine.models import Run, RunStatus, StepRun, StepStatus, new_id
from engine.oauth import tokens as oauth_tokens
from engine.queue import enqueue_run
from engine.redaction import redact
from engine.registry import get_action
from engine.services import contacts as contacts_service
from engine.services.usage import USAGE
from engine.states import HELD_RUN_STATE, ExecOutcome, claimable

log = structlog.get_logger("flowmate.executor")
runs_t = Run.__table__
steps_t = StepRun.__table__


def new_worker_id() -> str:
    """A lease owner id (``host:pid:suffix``): one per runtime, so two runtimes never share leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# The hot-path statements are built once: constructing them per call cost about a fifth of a
# cheap run's CPU. Values arrive as bound parameters.
_OURS = (runs_t.c.id == bindparam("rid"), runs_t.c.lease_owner == bindparam("owner"),
         runs_t.c.status == HELD_RUN_STATE.value)
_CLAIM = (
    update(runs_t)
    .where(
        runs_t.c.id == bindparam("rid"),
        claimable(runs_t.c, due=db_clock("due_s"), now=db_clock("now_s")),
    )
    .values(
        status=RunStatus.running.value, lease_owner=bindparam("owner"), lease_expires_at=db_clock("lease_s"),
        attempt=runs_t.c.attempt + 1, next_attempt_at=None,
        started_at=func.coalesce(runs_t.c.started_at, db_clock("now_s")),  # first start survives resumes
    )
    .returning(runs_t.c.id, runs_t.c.workspace_id, runs_t.c.workflow_id, runs_t.c.definition,
               runs_t.c.trigger_payload, runs_t.c.attempt, runs_t.c.started_at, runs_t.c.trigger_type,
               runs_t.c.parent_run_id, runs_t.c.traceparent)
)
_GUARD = update(runs_t).where(*_OURS).values(lease_expires_at=db_clock("lease_s"))
_RELEASE = update(runs_t).where(*_OURS).values(
    status=bindparam("new_status"), error=bindparam("err"), result=bindparam("res"),
    finished_at=bindparam("finished"), next_attempt_at=bindparam("next_at"), lease_owner=None, lease_expires_at=None,
)
_PARK = update(runs_t).where(*_OURS).values(
    status=RunStatus.waiting.value, next_attempt_at=db_clock("wait_s"), lease_owner=None, lease_expires_at=None,
)
_FIRST = runs_t.c.attempt <= 1
#: Give a claimed run back untouched (the per-workspace cap was reached): as if never claimed.
_DEFER = update(runs_t).where(*_OURS).values(
    status=case((_FIRST, RunStatus.queued.value), else_=RunStatus.waiting.value),
    attempt=runs_t.c.attempt - 1,
    started_at=case((_FIRST, null()), else_=runs_t.c.started_at),
    next_attempt_at=case((_FIRST, null()), else_=db_clock("wait_s")),
    lease_owner=None, lease_expires_at=None,
)
_STEP_INSERT = insert(steps_t)


def jsonable(value: Any) -> Any:
    """Make action output storable as JSON (datetimes, decimals, sets become strings/lists)."""
    try:
        return json.loads(json.dumps(value, default=_default))
    except (TypeError, ValueError):
        return str(value)


def _default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    return str(obj)


def retry_delay(policy: RetryPolicy, failed_attempts: int, rng: random.Random | None = None) -> float:
    """Delay before the next attempt: min(max, initial × factor^(n-1)) with ±20 % jitter."""
    base = min(policy.max_delay_s, policy.initial_delay_s * policy.factor ** (failed_attempts - 1))
    jitter = (rng or random).uniform(0.8, 1.2)
    return round(min(policy.max_delay_s, base * jitter) if base > 0 else 0.0, 3)


@dataclass
class Outcome:
    """What the executor did with a run; the queue layer acts on ``requeue_in``."""

    status: ExecOutcome
    requeue_in: float | None = None
    claimed: bool = True
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def validate_rendered_config(model: Any, rendered: Any) -> Any:
    """Validate a rendered config; a number or bool landing in a text field becomes text.

    ``"{{ steps.wait.output.seconds }}"`` renders to a native float; where the action expects a
    string, users mean its text, as they would in Zapier.
    """
    try:
        return model.model_validate(rendered)
    except ValidationError as exc:
        fixed = dict(rendered) if isinstance(rendered, dict) else rendered
        changed = False
        for err in exc.errors():
            loc = err["loc"]
            if err["type"] == "string_type" and len(loc) == 1 and isinstance(fixed, dict):
                value = fixed.get(loc[0])
                if isinstance(value, (int, float, bool)):
                    fixed[loc[0]] = str(value)
                    changed = True
        if changed:
            return validate_rendered_config(model, fixed)
        fields = pydantic_fields(exc)
        raise PermanentError("invalid config: " + "; ".join(f"{k}: {v}" for k, v in fields.items())) from None


class LeaseLost(Exception):
    """The run was cancelled or another worker took it over: stop without writing."""


class DatabaseUnavailable(Exception):
    """The database stayed unreachable through every retry: release the run, do not fail it."""


#: Pauses between attempts of a statement whose connection was lost (~12 s in all: long enough
#: for a PostgreSQL restart or a failover, short enough to give the run back soon otherwise).
DB_RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0)


def _with_db_retry(work: Any, what: str) -> Any:
    """Run ``work()`` (one whole transaction), again on a fresh connection if the connection was
    lost. A unique violation on a *retry* means the lost attempt had in fact committed."""
    for attempt, delay in enumerate((*DB_RETRY_DELAYS, None)):
        try:
            return work()
        except sa_exc.IntegrityError:
            if attempt:
                log.info("db.retry_found_committed", what=what)
                return None
            raise
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            if delay is None:
                raise DatabaseUnavailable(f"{what}: {type(exc).__name__}") from exc
            log.warning("db.connection_lost_retrying", what=what, attempt=attempt + 1, delay_s=delay,
                        error=type(exc).__name__)
            time.sleep(delay)
    return None  # unreachable


def is_infrastructure_error(exc: BaseException) -> bool:
    """A database or Redis outage: the run is released for resumption, never failed for it."""
    return isinstance(exc, DatabaseUnavailable) or is_outage(exc)


class WorkerRuntime:
    """What this process's worker threads are doing right now: the one owner of that state.

    - the runs it holds (id → workspace), whose leases the heartbeat renews and which a shutdown
      hands back;
    - how many runs of each workspace execute at once, against the per-workspace cap, and the
      runs deferred by that cap (parked), woken one by one as the workspace's runs finish;
    - ``draining``: set on SIGTERM, after which no new run is claimed here.
    """

    #: Parked run ids kept per workspace (beyond that, the fallback delayed message suffices).
    MAX_PARKED = 10_000

    def __init__(self) -> None:
        self._held: dict[str, str] = {}
        self._per_workspace: dict[str, int] = {}
        self._parked: dict[str, dict[str, None]] = {}
        self._lock = threading.Lock()
        self.draining = threading.Event()
        #: Worker threads of this process (set when they start); the default cap derives from it.
        self.threads: int | None = None

    def workspace_cap(self, settings: Settings) -> int:
        """Runs of one workspace this process executes at once: the setting, else threads - 1."""
        if settings.workspace_max_concurrent_runs:
            return settings.workspace_max_concurrent_runs
        return max(1, (self.threads or settings.worker_threads) - 1)

    def admit(self, run_id: str, workspace_id: str, cap: int) -> bool:
        """Hold ``run_id`` unless its workspace already runs ``cap`` runs here."""
        with self._lock:
            running = self._per_workspace.get(workspace_id, 0)
            if running >= cap:
                return False
            self._per_workspace[workspace_id] = running + 1
            self._held[run_id] = workspace_id
            return True

    def park(self, workspace_id: str, run_id: str) -> None:
        with self._lock:
            parked = self._parked.setdefault(workspace_id, {})
            if len(parked) < self.MAX_PARKED:
                parked[run_id] = None

    def discard(self, run_id: str) -> tuple[str, str] | None:
        """Forget a finished run; returns ``(run id, workspace id)`` of a parked run to wake, if any."""
        with self._lock:
            workspace_id = self._held.pop(run_id, None)
            if workspace_id is None:
                return None
            left = self._per_workspace.get(workspace_id, 1) - 1
            if left > 0:
                self._per_workspace[workspace_id] = left
            else:
                self._per_workspace.pop(workspace_id, None)
            parked = self._parked.get(workspace_id)
            if not parked:
                return None
            woken = next(iter(parked))
            del parked[woken]
            if not parked:
                del self._parked[workspace_id]
            return woken, workspace_id

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def running_for(self, workspace_id: str) -> int:
        with self._lock:
            return self._per_workspace.get(workspace_id, 0)


class Executor:
    """Runs one run at a time per call; safe to use from many worker threads.

    ``leases`` (what this process holds) and ``worker_id`` (the lease owner) belong to the
    runtime that consumes the queue (engine.runtime.Runtime); a test may build an Executor on
    its own and gets a fresh pair.
    """

    def __init__(self, settings: Settings | None = None, *, leases: WorkerRuntime | None = None,
                 worker_id: str | None = None):
        self.settings = settings or get_settings()
        self.leases = leases if leases is not None else WorkerRuntime()
        self.worker_id = worker_id or new_worker_id()
        self._loops = threading.local()
        #: Per-thread buffer of finished pure-step writes, flushed with the next write (see _write_step).
        self._tl = threading.local()

    # -- leases held by this process ----------------------------------------------------------

    def renew_leases(self) -> int:
        """Extend the lease of every run this executor holds (the runtime's lease-renewal duty)."""
        ids = self.leases.snapshot()
        if not ids:
            return 0
        with get_engine().begin() as conn:
            result = conn.execute(
                update(runs_t)
                .where(runs_t.c.id.in_(ids), runs_t.c.lease_owner == self.worker_id,
                       runs_t.c.status == HELD_RUN_STATE.value)
                .values(lease_expires_at=db_clock("lease_s")), {"lease_s": self.settings.lease_seconds}
            )
        return result.rowcount or 0

    def hand_off_held_runs(self) -> list[str]:
        """Give every run this executor still holds back to the queue, resumable at once by any
        worker (graceful shutdown after the grace period). Returns their ids; each is re-enqueued."""
        ids = self.leases.snapshot()
        if not ids:
            return []

        def work() -> list[str]:
            with get_engine().begin() as conn:
                rows = conn.execute(
                    update(runs_t)
                    .where(runs_t.c.id.in_(ids), runs_t.c.lease_owner == self.worker_id,
                           runs_t.c.status == HELD_RUN_STATE.value)
                    .values(status=RunStatus.waiting.value, next_attempt_at=db_clock(0.0), lease_owner=None,
                            lease_expires_at=None)
                    .returning(runs_t.c.id)
                ).all()
            return [r for (r,) in rows]

        released = _with_db_retry(work, "hand off runs") or []
        for run_id in released:
            enqueue_run(run_id)
        log.info("worker.runs_handed_off", count=len(released))
        return released

    # -- claiming ---------------------------------------------------------------------------

    def claim(self, conn: Connection, run_id: str) -> dict[str, Any] | None:
        row = conn.execute(_CLAIM, {
            "rid": run_id, "due_s": 1.0, "now_s": 0.0, "owner": self.worker_id, "lease_s": self.settings.lease_seconds,
        }).mappings().first()
        return dict(row) if row else None

    def _claim(self, run_id: str) -> dict[str, Any] | None:
        def work() -> dict[str, Any] | None:
            with get_engine().begin() as conn:
                return self.claim(conn, run_id)

        return _with_db_retry(work, "claim")

    def _defer(self, run_id: str) -> None:
        """Give the run back as it was: its workspace already uses its share of this process."""
        def work() -> None:
            with get_engine().begin() as conn:
                conn.execute(_DEFER, {"rid": run_id, "owner": self.worker_id,
                                      "wait_s": self.settings.workspace_defer_seconds})

        _with_db_retry(work, "defer")

    # -- main entry -------------------------------------------------------------------------

    def _deferred(self, run_id: str, workspace_id: str) -> Outcome:
        self.leases.park(workspace_id, run_id)
        fallback = self.settings.workspace_defer_seconds * random.uniform(0.8, 1.2)
        return Outcome(status=ExecOutcome.deferred, claimed=False, requeue_in=fallback)

    def execute(self, run_id: str, workspace_id: str | None = None) -> Outcome:
        """Claim and run ``run_id``. Returns what happened (never raises for step failures).

        ``workspace_id`` (when the message carries it) lets a run over its workspace's cap be
        deferred without a database round trip.
        """
        if self.leases.draining.is_set():  # shutting down: leave the run to another worker
            return Outcome(status=ExecOutcome.draining, claimed=False, requeue_in=0.0)
        cap = self.leases.workspace_cap(self.settings)
        if workspace_id and self.leases.running_for(workspace_id) >= cap:
            return self._deferred(run_id, workspace_id)
        try:
            claimed = self._claim(run_id)
        except DatabaseUnavailable:
            log.warning("run.claim_unavailable", run_id=run_id)
            return Outcome(status=ExecOutcome.not_claimed, claimed=False, requeue_in=self.settings.lease_seconds)
        if claimed is None:
            return Outcome(status=ExecOutcome.not_claimed, claimed=False)
        if not self.leases.admit(run_id, claimed["workspace_id"], cap):
            self._defer(run_id)
            return self._deferred(run_id, claimed["workspace_id"])
        if claimed["attempt"] == 1:
            metrics.safe_inc(metrics.RUNS_STARTED, trigger=str(claimed["trigger_type"]))
        bound = log.bind(run_id=run_id, workflow_id=claimed["workflow_id"], workspace_id=claimed["workspace_id"])
        bus.run_changed(run_id, RunStatus.running, workspace_id=claimed["workspace_id"],
                        workflow_id=claimed["workflow_id"])
        trace_handle = tracing.start_run(claimed)
        try:
            return self._run_coroutine(claimed, bound)
        except LeaseLost:
            bound.info("run.lease_lost")
            return Outcome(status=ExecOutcome.lease_lost)
        except Exception as exc:
            if is_infrastructure_error(exc):  # not the run's fault: let it resume once the outage ends
                bound.warning("run.released_infrastructure", error=type(exc).__name__)
                self._buffer().clear()
                return Outcome(status=ExecOutcome.released, requeue_in=self.settings.lease_seconds)
            # a bug in the engine itself: fail the run visibly, never silently
            bound.exception("run.crashed")
            self._finish(run_id, RunStatus.failed, error=f"internal error: {type(exc).__name__}: {exc}")
            return Outcome(status=ExecOutcome.failed, error=str(exc))
        finally:
            tracing.end_run(trace_handle)
            woken = self.leases.discard(run_id)
            if woken is not None:  # a slot of this workspace is free: offer it a parked run now
                enqueue_run(woken[0], workspace_id=woken[1])

    def _run_coroutine(self, claimed: dict[str, Any], bound: Any) -> Outcome:
        """Run the async step loop on this thread's own event loop.

        Worker threads have no loop of their own; a caller that is itself inside a running loop
        (an async web handler, Playwright's sync API) gets the run executed on a helper thread.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._loop().run_until_complete(self._execute(claimed, bound))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            # copy_context: the run's trace span stays current on the helper thread
            return pool.submit(contextvars.copy_context().run,
                               lambda: self._loop().run_until_complete(self._execute(claimed, bound))).result()

    def _loop(self) -> asyncio.AbstractEventLoop:
        loop = getattr(self._loops, "loop", None)
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            self._loops.loop = loop
        return loop

    async def _execute(self, run: dict[str, Any], bound: Any) -> Outcome:
        run_id = run["id"]
        done: dict[str, dict[str, Any]] = {}
        if run["attempt"] > 1:  # a resumed or recovered run: load what already happened
            def load() -> list[Any]:
                with get_engine().connect() as conn:
                    return conn.execute(select(steps_t).where(steps_t.c.run_id == run_id)).mappings().all()

            done = {r["path"] or r["step_key"]: dict(r) for r in _with_db_retry(load, "load steps")}
        self._tl.buffer = []
        self._tl.live = {"workspace_id": run["workspace_id"], "workflow_id": run["workflow_id"]}  # for bus messages
        definition = run["definition"] or {}
        context: dict[str, Any] = {
            "trigger": run["trigger_payload"] or {},
            "steps": {},
            "run": {"id": run_id, "attempt": run["attempt"],
                    "started_at": (as_aware(run["started_at"]) or utcnow()).isoformat()},
            "workflow": {"id": run["workflow_id"], "name": definition.get("name", "")},
            "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,  # email.send puts each recipient's own link here
        }
        # Branches, loops, waits and paths: engine/flow/ walks the step tree and calls _run_step.
        runner = FlowRunner(self, run, bound, done, context)
        tree = await runner.run()
        executed, workspace_id = runner.executed, run["workspace_id"]
        steps = definition.get("steps", [])
        if tree.status == ExecOutcome.waiting:
            self._park(run_id, tree.requeue_in or 0, steps=executed, workspace_id=workspace_id)
            runner.after_park()
            return Outcome(status=ExecOutcome.waiting, requeue_in=tree.requeue_in)
        rest = (steps[tree.top_index + 1:], runner.position) if tree.top_index is not None else None
        if tree.status == ExecOutcome.stopped:
            self._finish(run_id, RunStatus.succeeded, result=tree.reason, steps=executed, workspace_id=workspace_id,
                         skip=rest)
            bound.info("run.stopped", reason=tree.reason)
            runner.after_finish()
            return Outcome(status=ExecOutcome.succeeded, detail={"stopped": True})
        if tree.status == ExecOutcome.failed:
            self._finish(run_id, RunStatus.failed, error=f"Step '{tree.failed_key}' failed: {tree.error}",
                         steps=executed, workspace_id=workspace_id, skip=rest)
            bound.warning("run.failed", step_key=tree.failed_key, error=tree.error)
            runner.after_finish()
            return Outcome(status=ExecOutcome.failed, error=tree.error)
        self._finish(run_id, RunStatus.succeeded, steps=executed, workspace_id=workspace_id, skip=rest,
                     result=runner.warning_text())
        bound.info("run.succeeded", steps=len(steps))
        runner.after_finish()
        return Outcome(status=ExecOutcome.succeeded)

    # -- one step ---------------------------------------------------------------------------

    async def _run_step(self, run: dict[str, Any], step: dict[str, Any], position: int,
                        prior: dict[str, Any] | None, context: dict[str, Any], step_log: Any,
                        flow: Any = None) -> Outcome:
        run_id, key = run["id"], step["key"]
        try:
            spec = get_action(step["action"])
        except KeyError:
            return self._fail_step(run_id, step, position, prior, f"unknown action {step['action']!r}", None)
        policy = RetryPolicy.model_validate(step.get("retry") or {})
        attempts = (prior["attempts"] if prior else 0)
        resume_at = as_aware(prior["resume_at"]) if prior else None
        resuming = resume_at is not None

        # The step's expressions (`when` and config) share one budget inside the step's timeout.
        timeout = step.get("timeout_s") or self.settings.default_step_timeout_seconds
        data_cap = self.settings.step_data_max_bytes
        render_t0 = time.monotonic()
        with render_budget(self.settings.expression_max_operations,
                           min(self.settings.expression_max_seconds, timeout)):
            # `when`: skip the step when its condition is false.
            if step.get("when") and not resuming:
                try:
                    if not evaluate_condition(step["when"], context):
                        self._write_step(run_id, step, position, prior, status=StepStatus.skipped, finished=True,
                                         output=None, error=None, attempts=attempts, defer=True)
                        return Outcome(status=ExecOutcome.skipped)
                except StepError as exc:
                    return self._fail_step(run_id, step, position, prior, f"when: {exc}", None, attempts=attempts)

            started = utcnow()
            rendered: Any = None
            if not resuming:
                attempts += 1
            try:
                rendered = render(step.get("config") or {}, context)
                config = validate_rendered_config(spec.config_model, rendered)
            except StepError as exc:
                return self._fail_step(run_id, step, position, prior, str(exc),
                                       redact(storable_step_data(rendered, data_cap)), attempts=attempts)
        remaining = max(timeout - (time.monotonic() - render_t0), 0.001)

        secrets: list[str] = []
        safe_input = redact(storable_step_data(rendered, data_cap))
        if spec.side_effect and not resuming:
            # Record "running" before a side effect, so a crash leaves a visible trace.
            self._write_step(run_id, step, position, prior, status=StepStatus.running, attempts=attempts,
                             input=safe_input, started=started)
            prior = {"attempts": attempts, "retry_delays": (prior or {}).get("retry_delays") or [],
                     "exists": True, "started_at": started}

        actx = ActionContext(
            run_id=run_id, step_key=key, step_path=step.get(PATH, key), flow=flow,
            workflow_id=run["workflow_id"], workspace_id=run["workspace_id"],
            attempt=attempts, resume_at=resume_at, settings=self.settings, log=step_log,
            connection_loader=lambda ref: self._load_connection(run["workspace_id"], ref, secrets),
            contacts=contacts_service, oauth=oauth_tokens,
        )
        try:
            output = await asyncio.wait_for(spec.run(actx, config), timeout=remaining)
        except TimeoutError:
            error: StepError = RetryableError(f"timed out after {timeout:g}s")
        except SkipStep as skip:
            skipped = {**skip.output, "skipped": True, "reason": skip.reason}
            self._write_step(run_id, step, position, prior, status=StepStatus.skipped, finished=True,
                             attempts=attempts, input=safe_input, output=skipped, started=started)
            step_log.info("step.skipped", reason=skip.reason)
            return Outcome(status=ExecOutcome.skipped, detail={"output": skipped})
        except StopRun as stop:
            self._write_step(run_id, step, position, prior, status=StepStatus.succeeded, finished=True,
                             attempts=attempts, input=safe_input, output={"stopped": True, "reason": stop.reason},
                             started=started)
            return Outcome(status=ExecOutcome.stopped, detail={"reason": stop.reason})
        except Suspend as suspend:
            wait = max(0.0, (suspend.resume_at - utcnow()).total_seconds())
            self._write_step(run_id, step, position, prior, status=StepStatus.running, attempts=attempts,
                             input=safe_input, resume_at=suspend.resume_at, started=started)
            step_log.info("step.suspended", resume_at=suspend.resume_at.isoformat())
            return Outcome(status=ExecOutcome.waiting, requeue_in=wait)
        except StepError as exc:
            error = exc
        except Exception as exc:  # an action bug or an unexpected library error: retry by policy
            step_log.warning("step.exception", exc_type=type(exc).__name__)
            error = RetryableError(f"{type(exc).__name__}: {exc}")
        else:
            out = storable_step_data(output, data_cap)
            out = redact(out, secrets) if secrets else out
            self._write_step(run_id, step, position, prior, status=StepStatus.succeeded, finished=True,
                             attempts=attempts, input=safe_input, output=out, started=started,
                             defer=not spec.side_effect)
            step_log.debug("step.succeeded", attempts=attempts)
            return Outcome(status=ExecOutcome.succeeded, detail={"output": out})

        message = redact(str(error), secrets)  # also masks secret-looking URL query values
        if error.retryable and attempts < policy.max_attempts:
            delay = retry_delay(policy, attempts)
            if getattr(error, "retry_after", None) is not None:  # the provider said when (429 Retry-After)
                delay = max(0.0, min(float(error.retry_after), 86400.0))
            delays = [*((prior or {}).get("retry_delays") or []), delay]
            self._write_step(run_id, step, position, prior, status=StepStatus.pending, attempts=attempts,
                             input=safe_input, error=message, retry_delays=delays, started=started)
            step_log.info("step.retry_scheduled", attempts=attempts, delay_s=delay, error=message)
            return Outcome(status=ExecOutcome.waiting, requeue_in=delay)
        step_log.warning("step.failed", attempts=attempts, error=message)
        return self._fail_step(run_id, step, position, prior, message, safe_input, attempts=attempts,
                               started=started)

    def _fail_step(self, run_id: str, step: dict[str, Any], position: int, prior: dict[str, Any] | None,
                   message: str, safe_input: Any, attempts: int | None = None,
                   started: datetime | None = None) -> Outcome:
        attempts = attempts if attempts is not None else ((prior or {}).get("attempts") or 0) + 1
        continued = {"error": message} if step.get("on_error") == "continue" else None  # the run goes on
        self._write_step(run_id, step, position, prior, status=StepStatus.failed, finished=True,
                         attempts=attempts, input=safe_input, error=message, started=started or utcnow(),
                         output=continued)
        return Outcome(status=ExecOutcome.failed, error=message)

    # -- writes -----------------------------------------------------------------------------

    def _guard(self, conn: Connection, run_id: str) -> None:
        """Renew our lease; raise LeaseLost if the run is no longer ours (cancelled or taken)."""
        params = {"rid": run_id, "owner": self.worker_id, "lease_s": self.settings.lease_seconds}
        if not conn.execute(_GUARD, params).rowcount:
            raise LeaseLost(run_id)

    def _buffer(self) -> list[dict[str, Any]]:
        buf = getattr(self._tl, "buffer", None)
        if buf is None:
            buf = self._tl.buffer = []
        return buf

    def _flush(self, conn: Connection) -> None:
        """Insert the buffered finished-step rows in one statement (inside the caller's transaction).

        The buffer is emptied by the caller once the transaction committed (``_commit``), so a
        transaction retried after a lost connection writes the same rows again.
        """
        buf = self._buffer()
        if buf:
            conn.execute(_STEP_INSERT, buf)

    def _commit(self, work: Any, what: str) -> Any:
        """Run ``work(conn)`` in one transaction (retried if the connection is lost); then forget
        the buffered rows it flushed."""
        def attempt() -> Any:
            with get_engine().begin() as conn:
                return work(conn)

        result = _with_db_retry(attempt, what)
        self._buffer().clear()
        return result

    def _write_step(self, run_id: str, step: dict[str, Any], position: int, prior: dict[str, Any] | None, *,
                    status: StepStatus, attempts: int, finished: bool = False, input: Any = None,
                    output: Any = None, error: str | None = None, retry_delays: list | None = None,
                    resume_at: datetime | None = None, started: datetime | None = None,
                    defer: bool = False) -> None:
        """Record a step's state. Every write re-checks the lease in the same transaction.

        ``defer=True`` (a pure step that just finished, seen for the first time) only buffers the
        row: it is written together with the next write of this run, so a run of cheap steps
        costs one transaction instead of one per step. Losing the buffer in a crash only means
        re-running side-effect-free steps.
        """
        now = utcnow()
        values: dict[str, Any] = {
            "status": status.value, "attempts": attempts, "error": clean_text(error), "resume_at": resume_at,
            "finished_at": now if finished else None,
        }
        if input is not None:
            values["input"] = input
        if output is not None or finished:
            values["output"] = output
        if retry_delays is not None:
            values["retry_delays"] = retry_delays
        if started is not None:
            values["started_at"] = (prior or {}).get("started_at") or started
        path = step.get(PATH, step["key"])
        if not prior:
            row = {"id": new_id(), "run_id": run_id, "step_key": step["key"], "action": step["action"],
                   "path": path, "iteration": step.get(ITERATION), "position": position, "input": None,
                   "output": None, "started_at": None, **values, "retry_delays": retry_delays or []}
            if defer:
                self._buffer().append(row)
                return

        def work(conn: Connection) -> None:
            self._guard(conn, run_id)
            self._flush(conn)
            if prior:
                conn.execute(update(steps_t).where(steps_t.c.run_id == run_id, steps_t.c.path == path)
                             .values(**values))
            else:
                conn.execute(_STEP_INSERT, row)

        self._commit(work, "write step")
        bus.step_changed(run_id, step["key"], status, attempts=attempts, **getattr(self._tl, "live", {}))

    def _skip_rest(self, conn: Connection, run_id: str, rest: list[dict[str, Any]], start: int) -> None:
        if not rest:
            return
        existing = {r for (r,) in conn.execute(select(steps_t.c.path).where(steps_t.c.run_id == run_id))}
        rows = [
            {"id": new_id(), "run_id": run_id, "step_key": s["key"], "action": s["action"], "path": s["key"],
             "iteration": None, "position": start + i,
             "status": StepStatus.skipped.value, "attempts": 0, "retry_delays": [], "input": None, "output": None,
             "error": None, "resume_at": None, "started_at": None, "finished_at": None}
            for i, s in enumerate(rest) if s["key"] not in existing
        ]
        if rows:
            conn.execute(_STEP_INSERT, rows)

    def _finish(self, run_id: str, status: RunStatus, *, error: str | None = None, result: str | None = None,
                steps: int = 0, workspace_id: str | None = None,
                skip: tuple[list[dict[str, Any]], int] | None = None) -> None:
        """Final transaction: buffered steps, skipped rest, run status and usage, all or nothing."""
        def work(conn: Connection) -> bool:
            updated = conn.execute(_RELEASE, {
                "rid": run_id, "owner": self.worker_id, "new_status": status.value, "err": clean_text(error),
                "res": clean_text(result), "finished": utcnow(), "next_at": None,
            }).rowcount
            if not updated:
                return False
            self._flush(conn)
            if skip:
                self._skip_rest(conn, run_id, *skip)
            return True

        if not self._commit(work, "finish run"):
            return
        tracing.set_current_status(status)
        bus.run_changed(run_id, status, workspace_id=workspace_id, steps=steps,
                        workflow_id=getattr(self._tl, "live", {}).get("workflow_id"))
        metrics.safe_inc(metrics.RUNS_FINISHED, status=status.value)
        if workspace_id:
            USAGE.add(workspace_id, runs=1, steps=steps)

    def _park(self, run_id: str, wait_s: float, *, steps: int, workspace_id: str) -> None:
        def work(conn: Connection) -> bool:
            if not conn.execute(_PARK, {"rid": run_id, "owner": self.worker_id, "wait_s": float(wait_s)}).rowcount:
                return False
            self._flush(conn)
            return True

        if not self._commit(work, "park run"):
            raise LeaseLost(run_id)
        tracing.set_current_status(RunStatus.waiting)
        bus.run_changed(run_id, RunStatus.waiting, workspace_id=workspace_id, steps=steps)
        if steps:
            USAGE.add(workspace_id, steps=steps)

    def _load_connection(self, workspace_id: str, ref: str, secrets: list[str]) -> ConnectionData:
        from engine.services.connections import load_connection

        data = load_connection(workspace_id, ref)
        secrets.extend(str(v) for v in data.secret.values() if isinstance(v, (str, int)) and str(v))
        return data
