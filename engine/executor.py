"""Execute one Run: claim it with a lease, run its steps in order, record every state change.

Rules (design.md "Execution"):
- claim with ONE conditional UPDATE, so two workers can never hold the same run;
- finished steps never run again: a retried or recovered run resumes at the first unfinished step;
- retries and delays are scheduled as delayed queue messages, never slept in a worker thread;
- every write re-checks the lease, so a worker that lost its lease (or a cancelled run) stops.

The hot path uses SQLAlchemy Core statements: the ORM costs too much per step at hundreds of
runs per second.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from engine import metrics
from engine.config import Settings, get_settings
from engine.context import ActionContext, ConnectionData
from engine.db import as_aware, get_engine, utcnow
from engine.definition import RetryPolicy, pydantic_fields
from engine.errors import PermanentError, RetryableError, StepError, StopRun, Suspend
from engine.expressions import evaluate_condition, render
from engine.models import Run, RunStatus, StepRun, StepStatus, new_id
from engine.redaction import redact
from engine.registry import get_action
from engine.services.usage import USAGE

log = structlog.get_logger("flowmate.executor")
runs_t = Run.__table__
steps_t = StepRun.__table__

#: One id per process: lease owner for every run this process executes.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# The hot-path statements are built once: constructing them per call cost about a fifth of a
# cheap run's CPU. Values arrive as bound parameters.
_OURS = (runs_t.c.id == bindparam("rid"), runs_t.c.lease_owner == bindparam("owner"), runs_t.c.status == "running")
_CLAIM = (
    update(runs_t)
    .where(
        runs_t.c.id == bindparam("rid"),
        or_(
            runs_t.c.status == "queued",
            and_(runs_t.c.status == "waiting", runs_t.c.next_attempt_at <= bindparam("due")),
            and_(runs_t.c.status == "running", runs_t.c.lease_expires_at < bindparam("now")),
        ),
    )
    .values(
        status="running", lease_owner=bindparam("owner"), lease_expires_at=bindparam("lease_until"),
        attempt=runs_t.c.attempt + 1, next_attempt_at=None,
        started_at=func.coalesce(runs_t.c.started_at, bindparam("first_start")),  # first start survives resumes
    )
    .returning(runs_t.c.id, runs_t.c.workspace_id, runs_t.c.workflow_id, runs_t.c.definition,
               runs_t.c.trigger_payload, runs_t.c.attempt, runs_t.c.started_at, runs_t.c.trigger_type)
)
_GUARD = update(runs_t).where(*_OURS).values(lease_expires_at=bindparam("until"))
_RELEASE = update(runs_t).where(*_OURS).values(
    status=bindparam("new_status"), error=bindparam("err"), result=bindparam("res"),
    finished_at=bindparam("finished"), next_attempt_at=bindparam("next_at"), lease_owner=None, lease_expires_at=None,
)
_PARK = update(runs_t).where(*_OURS).values(
    status=RunStatus.waiting.value, next_attempt_at=bindparam("next_at"), lease_owner=None, lease_expires_at=None,
)
_STEP_INSERT = insert(steps_t)


def worker_id() -> str:
    return WORKER_ID


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

    status: str
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


class HeldRuns:
    """Runs this process is executing; the heartbeat thread renews their leases."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, run_id: str) -> None:
        with self._lock:
            self._ids.add(run_id)

    def discard(self, run_id: str) -> None:
        with self._lock:
            self._ids.discard(run_id)

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self._ids)


HELD = HeldRuns()


def renew_leases(settings: Settings | None = None) -> int:
    """Extend the lease of every run this process holds (called by the heartbeat thread)."""
    settings = settings or get_settings()
    ids = HELD.snapshot()
    if not ids:
        return 0
    with get_engine().begin() as conn:
        result = conn.execute(
            update(runs_t)
            .where(runs_t.c.id.in_(ids), runs_t.c.lease_owner == WORKER_ID, runs_t.c.status == "running")
            .values(lease_expires_at=utcnow() + timedelta(seconds=settings.lease_seconds))
        )
    return result.rowcount or 0


class Executor:
    """Runs one run at a time per call; safe to use from many worker threads."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self._loops = threading.local()
        #: Per-thread buffer of finished pure-step writes, flushed with the next write (see _write_step).
        self._tl = threading.local()

    # -- claiming ---------------------------------------------------------------------------

    def claim(self, conn: Connection, run_id: str) -> dict[str, Any] | None:
        now = utcnow()
        row = conn.execute(_CLAIM, {
            "rid": run_id, "due": now + timedelta(seconds=1), "now": now, "owner": WORKER_ID,
            "lease_until": now + timedelta(seconds=self.settings.lease_seconds), "first_start": now,
        }).mappings().first()
        return dict(row) if row else None

    # -- main entry -------------------------------------------------------------------------

    def execute(self, run_id: str) -> Outcome:
        """Claim and run ``run_id``. Returns what happened (never raises for step failures)."""
        engine = get_engine()
        with engine.begin() as conn:
            claimed = self.claim(conn, run_id)
        if claimed is None:
            return Outcome(status="not-claimed", claimed=False)
        if claimed["attempt"] == 1:
            metrics.safe_inc(metrics.RUNS_STARTED, trigger=str(claimed["trigger_type"]))
        HELD.add(run_id)
        bound = log.bind(run_id=run_id, workflow_id=claimed["workflow_id"], workspace_id=claimed["workspace_id"])
        try:
            return self._run_coroutine(claimed, bound)
        except LeaseLost:
            bound.info("run.lease_lost")
            return Outcome(status="lease-lost")
        except Exception as exc:  # a bug in the engine itself: fail the run visibly, never silently
            bound.exception("run.crashed")
            self._finish(run_id, RunStatus.failed, error=f"internal error: {type(exc).__name__}: {exc}")
            return Outcome(status="failed", error=str(exc))
        finally:
            HELD.discard(run_id)

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
            return pool.submit(lambda: self._loop().run_until_complete(self._execute(claimed, bound))).result()

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
            with get_engine().connect() as conn:
                rows = conn.execute(select(steps_t).where(steps_t.c.run_id == run_id)).mappings().all()
            done = {r["step_key"]: dict(r) for r in rows}
        self._tl.buffer = []
        definition = run["definition"] or {}
        context: dict[str, Any] = {
            "trigger": run["trigger_payload"] or {},
            "steps": {},
            "run": {"id": run_id, "attempt": run["attempt"],
                    "started_at": (as_aware(run["started_at"]) or utcnow()).isoformat()},
            "workflow": {"id": run["workflow_id"], "name": definition.get("name", "")},
        }
        executed = 0
        steps = definition.get("steps", [])
        for position, step in enumerate(steps):
            key = step["key"]
            prior = done.get(key)
            if prior and prior["status"] in (StepStatus.succeeded, StepStatus.skipped):
                context["steps"][key] = {"output": prior["output"], "status": prior["status"]}
                continue
            step_log = bound.bind(step_key=key, action=step["action"])
            step_t0 = time.perf_counter()
            result = await self._run_step(run, step, position, prior, context, step_log)
            metrics.record_step(step["action"], result.status, time.perf_counter() - step_t0)
            executed += 1 if result.status != "skipped" else 0
            if result.status in ("succeeded", "skipped"):
                context["steps"][key] = {"output": result.detail.get("output"), "status": result.status}
                continue
            if result.status == "stopped":
                self._finish(run_id, RunStatus.succeeded, result=result.detail.get("reason"), steps=executed,
                             workspace_id=run["workspace_id"], skip=(steps[position + 1 :], position + 1))
                step_log.info("run.stopped", reason=result.detail.get("reason"))
                return Outcome(status="succeeded", detail={"stopped": True})
            if result.status == "wait":
                self._park(run_id, result.requeue_in or 0, steps=executed, workspace_id=run["workspace_id"])
                return Outcome(status="waiting", requeue_in=result.requeue_in)
            # failed
            self._finish(run_id, RunStatus.failed, error=f"Step '{key}' failed: {result.error}", steps=executed,
                         workspace_id=run["workspace_id"], skip=(steps[position + 1 :], position + 1))
            step_log.warning("run.failed", error=result.error)
            return Outcome(status="failed", error=result.error)
        self._finish(run_id, RunStatus.succeeded, steps=executed, workspace_id=run["workspace_id"])
        bound.info("run.succeeded", steps=len(steps))
        return Outcome(status="succeeded")

    # -- one step ---------------------------------------------------------------------------

    async def _run_step(self, run: dict[str, Any], step: dict[str, Any], position: int,
                        prior: dict[str, Any] | None, context: dict[str, Any], step_log: Any) -> Outcome:
        run_id, key = run["id"], step["key"]
        try:
            spec = get_action(step["action"])
        except KeyError:
            return self._fail_step(run_id, step, position, prior, f"unknown action {step['action']!r}", None)
        policy = RetryPolicy.model_validate(step.get("retry") or {})
        attempts = (prior["attempts"] if prior else 0)
        resume_at = as_aware(prior["resume_at"]) if prior else None
        resuming = resume_at is not None

        # `when`: skip the step when its condition is false.
        if step.get("when") and not resuming:
            try:
                if not evaluate_condition(step["when"], context):
                    self._write_step(run_id, step, position, prior, status=StepStatus.skipped, finished=True,
                                     output=None, error=None, attempts=attempts, defer=True)
                    return Outcome(status="skipped")
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
            return self._fail_step(run_id, step, position, prior, str(exc), redact(rendered), attempts=attempts)

        secrets: list[str] = []
        safe_input = redact(jsonable(rendered))
        if spec.side_effect and not resuming:
            # Record "running" before a side effect, so a crash leaves a visible trace.
            self._write_step(run_id, step, position, prior, status=StepStatus.running, attempts=attempts,
                             input=safe_input, started=started)
            prior = {"attempts": attempts, "retry_delays": (prior or {}).get("retry_delays") or [],
                     "exists": True, "started_at": started}

        actx = ActionContext(
            run_id=run_id, step_key=key, workflow_id=run["workflow_id"], workspace_id=run["workspace_id"],
            attempt=attempts, resume_at=resume_at, settings=self.settings, log=step_log,
            connection_loader=lambda ref: self._load_connection(run["workspace_id"], ref, secrets),
        )
        timeout = step.get("timeout_s") or self.settings.default_step_timeout_seconds
        try:
            output = await asyncio.wait_for(spec.run(actx, config), timeout=timeout)
        except TimeoutError:
            error: StepError = RetryableError(f"timed out after {timeout:g}s")
        except StopRun as stop:
            self._write_step(run_id, step, position, prior, status=StepStatus.succeeded, finished=True,
                             attempts=attempts, input=safe_input, output={"stopped": True, "reason": stop.reason},
                             started=started)
            return Outcome(status="stopped", detail={"reason": stop.reason})
        except Suspend as suspend:
            wait = max(0.0, (suspend.resume_at - utcnow()).total_seconds())
            self._write_step(run_id, step, position, prior, status=StepStatus.running, attempts=attempts,
                             input=safe_input, resume_at=suspend.resume_at, started=started)
            step_log.info("step.suspended", resume_at=suspend.resume_at.isoformat())
            return Outcome(status="wait", requeue_in=wait)
        except StepError as exc:
            error = exc
        except Exception as exc:  # an action bug or an unexpected library error: retry by policy
            step_log.warning("step.exception", exc_type=type(exc).__name__)
            error = RetryableError(f"{type(exc).__name__}: {exc}")
        else:
            out = redact(jsonable(output), secrets) if secrets else jsonable(output)
            self._write_step(run_id, step, position, prior, status=StepStatus.succeeded, finished=True,
                             attempts=attempts, input=safe_input, output=out, started=started,
                             defer=not spec.side_effect)
            step_log.debug("step.succeeded", attempts=attempts)
            return Outcome(status="succeeded", detail={"output": out})

        message = redact(str(error), secrets) if secrets else str(error)
        if error.retryable and attempts < policy.max_attempts:
            delay = retry_delay(policy, attempts)
            if getattr(error, "retry_after", None) is not None:  # the provider said when (429 Retry-After)
                delay = max(0.0, min(float(error.retry_after), 86400.0))
            delays = [*((prior or {}).get("retry_delays") or []), delay]
            self._write_step(run_id, step, position, prior, status=StepStatus.pending, attempts=attempts,
                             input=safe_input, error=message, retry_delays=delays, started=started)
            step_log.info("step.retry_scheduled", attempts=attempts, delay_s=delay, error=message)
            return Outcome(status="wait", requeue_in=delay)
        step_log.warning("step.failed", attempts=attempts, error=message)
        return self._fail_step(run_id, step, position, prior, message, safe_input, attempts=attempts,
                               started=started)

    def _fail_step(self, run_id: str, step: dict[str, Any], position: int, prior: dict[str, Any] | None,
                   message: str, safe_input: Any, attempts: int | None = None,
                   started: datetime | None = None) -> Outcome:
        attempts = attempts if attempts is not None else ((prior or {}).get("attempts") or 0) + 1
        self._write_step(run_id, step, position, prior, status=StepStatus.failed, finished=True,
                         attempts=attempts, input=safe_input, error=message, started=started or utcnow())
        return Outcome(status="failed", error=message)

    # -- writes -----------------------------------------------------------------------------

    def _guard(self, conn: Connection, run_id: str) -> None:
        """Renew our lease; raise LeaseLost if the run is no longer ours (cancelled or taken)."""
        until = utcnow() + timedelta(seconds=self.settings.lease_seconds)
        if not conn.execute(_GUARD, {"rid": run_id, "owner": WORKER_ID, "until": until}).rowcount:
            raise LeaseLost(run_id)

    def _buffer(self) -> list[dict[str, Any]]:
        buf = getattr(self._tl, "buffer", None)
        if buf is None:
            buf = self._tl.buffer = []
        return buf

    def _flush(self, conn: Connection) -> None:
        """Insert the buffered finished-step rows in one statement (inside the caller's transaction)."""
        buf = self._buffer()
        if buf:
            conn.execute(_STEP_INSERT, buf)
            buf.clear()

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
            "status": status.value, "attempts": attempts, "error": error, "resume_at": resume_at,
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
        if not prior:
            row = {"id": new_id(), "run_id": run_id, "step_key": step["key"], "action": step["action"],
                   "position": position, "input": None, "output": None, "started_at": None,
                   **values, "retry_delays": retry_delays or []}
            if defer:
                self._buffer().append(row)
                return
        with get_engine().begin() as conn:
            self._guard(conn, run_id)
            self._flush(conn)
            if prior:
                conn.execute(update(steps_t).where(steps_t.c.run_id == run_id, steps_t.c.step_key == step["key"])
                             .values(**values))
            else:
                conn.execute(_STEP_INSERT, row)

    def _skip_rest(self, conn: Connection, run_id: str, rest: list[dict[str, Any]], start: int) -> None:
        if not rest:
            return
        existing = {r for (r,) in conn.execute(select(steps_t.c.step_key).where(steps_t.c.run_id == run_id))}
        rows = [
            {"id": new_id(), "run_id": run_id, "step_key": s["key"], "action": s["action"], "position": start + i,
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
        with get_engine().begin() as conn:
            updated = conn.execute(_RELEASE, {
                "rid": run_id, "owner": WORKER_ID, "new_status": status.value, "err": error, "res": result,
                "finished": utcnow(), "next_at": None,
            }).rowcount
            if not updated:
                self._buffer().clear()
                return
            metrics.safe_inc(metrics.RUNS_FINISHED, status=status.value)
            self._flush(conn)
            if skip:
                self._skip_rest(conn, run_id, *skip)
        if workspace_id:
            USAGE.add(workspace_id, runs=1, steps=steps)

    def _park(self, run_id: str, wait_s: float, *, steps: int, workspace_id: str) -> None:
        with get_engine().begin() as conn:
            updated = conn.execute(_PARK, {
                "rid": run_id, "owner": WORKER_ID, "next_at": utcnow() + timedelta(seconds=wait_s),
            }).rowcount
            if not updated:
                self._buffer().clear()
                raise LeaseLost(run_id)
            self._flush(conn)
        if steps:
            USAGE.add(workspace_id, steps=steps)

    def _load_connection(self, workspace_id: str, ref: str, secrets: list[str]) -> ConnectionData:
        from engine.services.connections import load_connection

        data = load_connection(workspace_id, ref)
        secrets.extend(str(v) for v in data.secret.values() if isinstance(v, (str, int)) and str(v))
        return data
