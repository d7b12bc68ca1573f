"""Starting, reading, cancelling and re-running runs.

:func:`start_run` is the ONE way a run is created (webhook, cron, manual, re-run, the builder's
test run, the API and the CLI): it checks the monthly quota, replays an idempotency key, writes
the row, the audit row (when a person or token started it), counts it and enqueues it. The row
is committed BEFORE the queue message is sent: if the enqueue is lost, the sweeper still finds
the queued row, so a run is never lost.

It runs on SQLAlchemy Core statements built once: the webhook intake answers hundreds of
requests per second, and a run costs one SELECT (idempotency, only with a key) and one INSERT.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from engine import bus, tracing
from engine.config import get_settings
from engine.db import as_aware, get_engine, session_scope, utcnow
from engine.definition import walk_steps
from engine.errors import Conflict, NotFound, QuotaExceeded, ValidationFailed
from engine.metrics import RUNS_CREATED, safe_inc
from engine.models import (
    Approval,
    Role,
    Run,
    RunStatus,
    StepRun,
    StepStatus,
    Trigger,
    WaitToken,
    Workflow,
    Workspace,
    new_id,
)
from engine.queue import enqueue_run
from engine.registry import get_trigger
from engine.schemas import RunDetail, RunPublic, StartedRun
from engine.services import audit, hook_cache
from engine.services.actor import Actor
from engine.services.pagination import keyset_page
from engine.services.usage import runs_this_month
from engine.services.wakeups import wake
from engine.services.workflows import cached_snapshot, get_workflow, run_snapshot
from engine.states import cancellable, check_run_transition

IDEMPOTENCY_TTL = timedelta(hours=24)


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


_quota_cache: dict[str, tuple[float, bool]] = {}
QUOTA_CACHE_SECONDS = 2.0


def _over_quota(session: Session, workspace_id: str) -> bool:
    """Has the workspace used its monthly runs? Cached for 2 s: intake must stay fast under load.

    Usage counts finished runs (workers add them through engine.services.usage.USAGE), so a burst may
    overshoot the quota by what is still queued; the quota is an allowance, not a hard wall.
    """
    now = time.monotonic()
    cached = _quota_cache.get(workspace_id)
    if cached and now - cached[0] < QUOTA_CACHE_SECONDS:
        return cached[1]
    ws_quota = session.exec(select(Workspace.monthly_run_quota).where(Workspace.id == workspace_id)).first()
    over = runs_this_month(session, workspace_id) >= (ws_quota or get_settings().monthly_run_quota)
    if len(_quota_cache) > 10_000:
        _quota_cache.clear()
    _quota_cache[workspace_id] = (now, over)
    return over


triggers_t = Trigger.__table__
workflows_t = Workflow.__table__
runs_t = Run.__table__

_WORKFLOW_FACTS = core_select(workflows_t.c.id, workflows_t.c.workspace_id, workflows_t.c.enabled,
                              workflows_t.c.version, workflows_t.c.updated_at)


@dataclass(frozen=True)
class RunRequest:
    """Everything that starts a run, whoever starts it.

    ``hook`` carries the workflow facts the webhook intake already looked up (so it costs no
    query); other callers leave it None and the facts are read by id, scoped by workspace.
    ``actor`` is who started it (audited); None for webhooks and cron.
    """

    workflow_id: str
    workspace_id: str
    trigger_type: str
    payload: dict[str, Any]
    actor: Actor | None = None
    idempotency_key: str | None = None
    body_hash: str | None = None
    rerun_of: str | None = None
    require_enabled: bool = False
    hook: dict[str, Any] | None = None
    #: A child run (flow.call_workflow): the calling run and step path.
    parent_run_id: str | None = None
    parent_path: str | None = None


@lru_cache(maxsize=8)
def _intake_insert(dialect: str, idempotent: bool) -> Any:
    """The run INSERT, built once: building it per request cost a quarter of the intake's CPU."""
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(runs_t)
    if idempotent:
        stmt = stmt.on_conflict_do_nothing(index_elements=["workflow_id", "idempotency_key"])
    return stmt.returning(runs_t.c.id)


def _existing(conn: Any, req: RunRequest) -> tuple[str, bool] | None:
    """The run an idempotency key already created: ``(id, False)``; Conflict for another body."""
    row = conn.execute(core_select(runs_t.c.id, runs_t.c.request_hash)
                       .where(runs_t.c.workflow_id == req.workflow_id,
                              runs_t.c.idempotency_key == req.idempotency_key)).first()
    if row is None:
        return None
    if req.body_hash is not None and row.request_hash not in (None, req.body_hash):
        raise Conflict("this Idempotency-Key was already used with a different request body")
    return row.id, False


def start_run(req: RunRequest, *, enqueue: bool = True) -> StartedRun:
    """Write (durably) and enqueue one run; the only place a run row is created.

    Returns ``StartedRun(created=False)`` with the first run's id when ``idempotency_key``
    matched an earlier run with the same body hash (a replay); a different body raises
    Conflict, an exhausted quota QuotaExceeded, an unknown (or, with ``require_enabled``,
    disabled) workflow NotFound. With an actor, the run and its audit row commit together.
    """
    if req.actor is not None:  # a person or token starting a run (triggers pass no actor)
        req.actor.require(Role.editor)
    engine = get_engine()
    facts = req.hook
    # An audited start needs one transaction for run + audit row; the intake needs none.
    opened = engine.begin() if req.actor is not None else engine.connect().execution_options(
        isolation_level="AUTOCOMMIT")
    with opened as conn:
        if facts is None:
            row = conn.execute(_WORKFLOW_FACTS.where(workflows_t.c.id == req.workflow_id,
                                                     workflows_t.c.workspace_id == req.workspace_id)).mappings().first()
            if row is None:
                raise NotFound("workflow not found")
            facts = dict(row)
        if req.require_enabled and not facts["enabled"]:
            raise NotFound("workflow not found or disabled")
        if req.idempotency_key:
            found = _existing(conn, req)
            if found:
                return StartedRun(id=found[0], created=False, workflow_id=req.workflow_id,
                                  trigger_type=req.trigger_type)
        definition = cached_snapshot(req.workflow_id, facts["version"], facts["updated_at"])
        with Session(bind=conn) as session:  # only touches the database on a cache miss (and to audit)
            if _over_quota(session, req.workspace_id):
                raise QuotaExceeded("this workspace has used its monthly run allowance; runs resume next month")
            if definition is None:
                wf = session.get(Workflow, req.workflow_id)
                if wf is None:
                    raise NotFound("workflow not found")
                definition = run_snapshot(session, wf)
            run_id = new_id()
            params = {
                "id": run_id, "workspace_id": req.workspace_id, "workflow_id": req.workflow_id,
                "workflow_version": facts["version"], "definition": definition, "status": RunStatus.queued.value,
                "trigger_type": req.trigger_type, "trigger_payload": req.payload, "attempt": 0,
                "idempotency_key": req.idempotency_key, "request_hash": req.body_hash, "rerun_of": req.rerun_of,
                "parent_run_id": req.parent_run_id, "parent_path": req.parent_path, "created_at": utcnow(),
                "traceparent": tracing.current_traceparent(),
            }
            inserted = conn.execute(_intake_insert(engine.dialect.name, bool(req.idempotency_key)), params).first()
            if inserted is None:  # a concurrent request with the same key won the race
                found = _existing(conn, req)
                if found is None:
                    raise Conflict("could not record the run; retry")
                return StartedRun(id=found[0], created=False, workflow_id=req.workflow_id,
                                  trigger_type=req.trigger_type)
            if req.actor is not None:
                audit.record(session, req.actor, "run.rerun" if req.rerun_of else "run.start", "run", run_id,
                             {"workflow_id": req.workflow_id, "trigger": req.trigger_type})
                session.flush()
    safe_inc(RUNS_CREATED, trigger=req.trigger_type)
    bus.run_changed(run_id, RunStatus.queued, workspace_id=req.workspace_id, workflow_id=req.workflow_id)
    if enqueue:
        with tracing.span("flowmate.enqueue", kind="producer", run_id=run_id, workflow_id=req.workflow_id):
            enqueue_run(run_id, workspace_id=req.workspace_id)  # lets workers apply the per-workspace cap early
    return StartedRun(id=run_id, created=True, workflow_id=req.workflow_id, trigger_type=req.trigger_type)


def create_run(
    workflow_id: str,
    *,
    workspace_id: str,
    trigger_type: str,
    payload: dict[str, Any],
    actor: Actor | None = None,
    idempotency_key: str | None = None,
    body_hash: str | None = None,
    rerun_of: str | None = None,
    require_enabled: bool = False,
    enqueue: bool = True,
) -> tuple[StartedRun, bool]:
    """:func:`start_run` with keyword arguments; returns ``(run, created)``."""
    started = start_run(RunRequest(
        workflow_id=workflow_id, workspace_id=workspace_id, trigger_type=trigger_type, payload=payload, actor=actor,
        idempotency_key=idempotency_key, body_hash=body_hash, rerun_of=rerun_of, require_enabled=require_enabled,
    ), enqueue=enqueue)
    return started, started.created


def expire_idempotency_keys(session: Session) -> int:
    """Forget webhook idempotency keys older than 24 h, so they may be used again."""
    cutoff = utcnow() - IDEMPOTENCY_TTL
    result = session.exec(  # type: ignore[call-overload]
        update(Run)
        .where(Run.idempotency_key.like("hook:%"), Run.created_at < cutoff)
        .values(idempotency_key=None)
    )
    return result.rowcount or 0


def get_run(session: Session, actor: Actor, run_id: str) -> Run:
    run = session.exec(select(Run).where(Run.id == run_id, Run.workspace_id == actor.workspace_id)).first()
    if run is None:
        raise NotFound("run not found")
    return run


def _iso(value: datetime | None) -> str | None:
    value = as_aware(value)
    return value.isoformat() if value else None


def run_public(session: Session, run: Run, *, include_steps: bool = True) -> dict[str, Any]:
    """:func:`run_view` as plain JSON data (what the CLI prints and a Reflex state holds)."""
    return run_view(session, run, include_steps=include_steps).model_dump(exclude_unset=True)


def run_view(session: Session, run: Run, *, include_steps: bool = True) -> RunPublic:
    """The run shape shared by the CLI (`runs show`), the API and the UI: a RunDetail with its
    trigger payload and steps, or a RunPublic without them (lists)."""
    out: dict[str, Any] = {
        "id": run.id,
        "workflow_id": run.workflow_id,
        "workflow_name": run.definition.get("name"),
        "workflow_version": run.workflow_version,
        "status": run.status,
        "trigger_type": run.trigger_type,
        "attempt": run.attempt,
        "error": run.error,
        "result": run.result,
        "rerun_of": run.rerun_of,
        "parent_run_id": run.parent_run_id,
        "parent_path": run.parent_path,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "next_attempt_at": _iso(run.next_attempt_at),
        "duration_ms": _duration_ms(run.started_at, run.finished_at),
    }
    if include_steps:
        from engine.redaction import redact  # trigger fields such as password/api_key, as in step inputs

        out["trigger"] = redact(run.trigger_payload)
        out["steps"] = run_steps(session, run)
        out["children"] = child_runs(session, run)
        out["result_value"] = run_result(out["steps"])
        out["warnings"] = sum(1 for st in out["steps"] if st.get("warning"))
        return RunDetail.model_validate(out)
    return RunPublic.model_validate(out)


def run_steps(session: Session, run: Run) -> list[dict[str, Any]]:
    """Every executed or skipped step in execution order (``position`` is the order the
    executor recorded them in; a loop's inner step appears once per iteration), then the
    top-level steps not reached yet as ``pending``."""
    rows = session.exec(select(StepRun).where(StepRun.run_id == run.id)
                        .order_by(StepRun.position, StepRun.started_at)).all()  # type: ignore[arg-type]
    scopes = list(walk_steps(run.definition))
    names = {scope.key: scope.step.get("name") or "" for scope in scopes}
    continues = {scope.key for scope in scopes if scope.step.get("on_error") == "continue"}
    steps: list[dict[str, Any]] = []
    seen: set[str] = set()
    for sr in rows:
        path = sr.path or sr.step_key
        seen.add(path)
        out = _step_out(sr.step_key, sr.action, names.get(sr.step_key, ""), sr)
        out.update(path=path, iteration=sr.iteration)
        if sr.status == StepStatus.failed.value and sr.step_key in continues:
            out["warning"] = True  # failed, and the run went on (on_error: continue)
        steps.append(out)
    for step in run.definition.get("steps", []):
        if step["key"] not in seen:
            steps.append({**_step_out(step["key"], step["action"], step.get("name") or "", None),
                          "path": step["key"], "iteration": None})
    return steps


def _step_out(key: str, action: str, name: str, sr: StepRun | None) -> dict[str, Any]:
    return {
        "key": key,
        "action": action,
        "name": name,
        "status": sr.status if sr else StepStatus.pending.value,
        "attempts": sr.attempts if sr else 0,
        "input": sr.input if sr else None,
        "output": sr.output if sr else None,
        "error": sr.error if sr else None,
        "retry_delays": sr.retry_delays if sr else [],
        "started_at": _iso(sr.started_at) if sr else None,
        "finished_at": _iso(sr.finished_at) if sr else None,
        "duration_ms": _duration_ms(sr.started_at, sr.finished_at) if sr else None,
    }


def run_result(steps: list[dict[str, Any]]) -> Any:
    """A run's result value (what a parent's flow.call_workflow step gets): the value of its
    flow.return step if one ran, else the output of its last finished top-level step."""
    for st in steps:
        if st["action"] == "flow.return" and st["status"] == StepStatus.succeeded.value:
            return (st.get("output") or {}).get("value")
    finished = [st for st in steps if st["iteration"] is None and "[" not in st["path"]
                and st["status"] == StepStatus.succeeded.value]
    return finished[-1]["output"] if finished else None


def child_runs(session: Session, run: Run) -> list[dict[str, Any]]:
    """Runs started by this run's flow.call_workflow steps, oldest first."""
    children = session.exec(select(Run).where(Run.parent_run_id == run.id, Run.workspace_id == run.workspace_id)
                            .order_by(Run.created_at)).all()  # type: ignore[arg-type]
    return [{"id": c.id, "workflow_id": c.workflow_id, "workflow_name": (c.definition or {}).get("name"),
             "status": c.status, "parent_path": c.parent_path, "created_at": _iso(c.created_at),
             "finished_at": _iso(c.finished_at)} for c in children]


def _duration_ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return int((as_aware(end) - as_aware(start)).total_seconds() * 1000)


def list_runs(
    session: Session, actor: Actor, *, workflow_id: str | None = None, status: str | None = None,
    since: datetime | None = None, until: datetime | None = None, cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Newest first, keyset-paginated on (created_at, id) via ix_run_ws_created."""
    stmt = select(Run).where(Run.workspace_id == actor.workspace_id)
    if workflow_id:
        stmt = stmt.where(Run.workflow_id == workflow_id)
    if status:
        statuses = [s.strip() for s in status.split(",") if s.strip()]
        bad = [s for s in statuses if s not in RunStatus.__members__]
        if bad:
            raise ValidationFailed("unknown status", {"status": f"unknown status {bad[0]!r}"})
        stmt = stmt.where(Run.status.in_(statuses))
    if since:
        stmt = stmt.where(Run.created_at >= since)
    if until:
        stmt = stmt.where(Run.created_at < until)
    return keyset_page(session, stmt, Run, cursor=cursor, limit=limit,
                       public=lambda r: run_public(session, r, include_steps=False))


def cancel_run(session: Session, actor: Actor, run_id: str) -> Run:
    """Cancel a queued, running or waiting run; a running step finishes, nothing after it runs.

    Runs it started and still waits for (flow.call_workflow) are cancelled with it, its pending
    approvals and resume URLs stop working, and a parent waiting for it is woken (its calling
    step then fails with "cancelled").
    """
    actor.require(Role.editor)
    run = get_run(session, actor, run_id)
    if RunStatus(run.status).finished:
        raise Conflict(f"the run already {run.status}")
    check_run_transition(run.status, RunStatus.cancelled)
    if not _cancel_one(session, run.id, "cancelled by " + actor.label):
        raise Conflict("the run finished before it could be cancelled")
    children = _cancel_children(session, actor, run.id)
    audit.record(session, actor, "run.cancel", "run", run.id, {"children": children} if children else {})
    if run.parent_run_id:
        wake(session, run.parent_run_id, run.workspace_id)
    session.flush()
    session.refresh(run)
    return run


def _cancel_one(session: Session, run_id: str, error: str) -> bool:
    result = session.exec(  # type: ignore[call-overload]
        update(Run)
        .where(Run.id == run_id, cancellable(Run.__table__.c))
        .values(status=RunStatus.cancelled.value, finished_at=utcnow(), lease_owner=None, error=error)
    )
    if not result.rowcount:
        return False
    conn = session.connection()
    conn.execute(update(Approval.__table__).where(Approval.__table__.c.run_id == run_id,
                                                  Approval.__table__.c.status == "pending")
                 .values(status="expired", decided_at=utcnow()))
    conn.execute(update(WaitToken.__table__).where(WaitToken.__table__.c.run_id == run_id,
                                                   WaitToken.__table__.c.status.in_(("pending", "waiting")))
                 .values(status="expired"))
    return True


def _cancel_children(session: Session, actor: Actor, run_id: str, depth: int = 0) -> int:
    """Cancel the active runs ``run_id`` started, and theirs (call depth is at most 5)."""
    if depth > 10:
        return 0
    count = 0
    children = session.exec(select(Run.id).where(Run.parent_run_id == run_id, Run.workspace_id == actor.workspace_id,
                                                 cancellable(Run.__table__.c))).all()
    for child_id in children:
        if _cancel_one(session, child_id, f"cancelled with its parent run by {actor.label}"):
            count += 1 + _cancel_children(session, actor, child_id, depth + 1)
    return count


def rerun(actor: Actor, run_id: str) -> StartedRun:
    """Start a new run of the same workflow with the same trigger payload."""
    actor.require(Role.editor)
    with session_scope() as session:
        old = get_run(session, actor, run_id)
        workflow_id, trigger_type, payload = old.workflow_id, old.trigger_type, old.trigger_payload
        get_workflow(session, actor, workflow_id)
    return start_run(RunRequest(workflow_id=workflow_id, workspace_id=actor.workspace_id, trigger_type=trigger_type,
                                payload=payload, actor=actor, rerun_of=run_id))


def _json_payload(payload: Any) -> Any:
    if payload is None:
        return {}
    try:
        json.dumps(payload)
    except (TypeError, ValueError):
        raise ValidationFailed("payload must be JSON", {"payload": "not JSON-serialisable"}) from None
    return payload


def start_manual_run(actor: Actor, workflow_id: str, payload: Any) -> StartedRun:
    """A person (UI, API, CLI) starts the workflow; the payload is ``trigger.payload``."""
    actor.require(Role.editor)
    return start_run(RunRequest(workflow_id=workflow_id, workspace_id=actor.workspace_id, trigger_type="manual",
                                payload={"payload": _json_payload(payload)}, actor=actor))


def start_test_run(actor: Actor, workflow_id: str, sample: Any) -> StartedRun:
    """The builder's "Run test": the saved workflow with a trigger payload shaped like its real
    trigger's (the trigger type's ``test_payload`` hook); a manual workflow runs as a manual run."""
    actor.require(Role.editor)
    with session_scope() as session:
        get_workflow(session, actor, workflow_id)
        trigger = session.exec(select(Trigger).where(Trigger.workflow_id == workflow_id)).first()
        trigger_type, config = (trigger.type, dict(trigger.config)) if trigger else ("manual", {})
    kind = get_trigger(trigger_type)
    payload = kind.test_payload(config, _json_payload(sample))
    return start_run(RunRequest(workflow_id=workflow_id, workspace_id=actor.workspace_id,
                                trigger_type="manual" if trigger_type == "manual" else "test",
                                payload=payload, actor=actor))


# --- webhook intake hot path --------------------------------------------------------------
# The intake answers hundreds of requests per second: the lookup is one memoised Core SELECT
# on an autocommit connection, the run is written by start_run (one INSERT, durable when it
# returns) instead of ORM sessions with BEGIN/COMMIT.

_FIND_WEBHOOK = (
    core_select(triggers_t.c.config, triggers_t.c.secret_encrypted, workflows_t.c.id, workflows_t.c.workspace_id,
                workflows_t.c.enabled, workflows_t.c.version, workflows_t.c.updated_at)
    .select_from(triggers_t.join(workflows_t, workflows_t.c.id == triggers_t.c.workflow_id))
)


def find_webhook(token: str) -> dict[str, Any] | None:
    """What the intake needs about a webhook token (None when unknown): trigger config and
    encrypted secret, workflow id, workspace, enabled flag, version and updated_at."""
    cached = hook_cache.get(token)
    if cached is not None:
        return cached
    stmt = _FIND_WEBHOOK.where(triggers_t.c.webhook_token == token, triggers_t.c.type == "webhook")
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(stmt).mappings().first()
    if row is None:
        return None
    facts = dict(row)
    hook_cache.put(token, facts)
    return facts


def create_webhook_run(hook: dict[str, Any], payload: dict[str, Any], *, idempotency_key: str | None = None,
                       body_hash: str | None = None, enqueue: bool = True) -> tuple[str, bool]:
    """Start a webhook run for ``hook`` (from :func:`find_webhook`): ``(run_id, created)``.

    The same path as every other run (:func:`start_run`), with the workflow facts the intake
    already has, so it costs no extra query.
    """
    started = start_run(RunRequest(workflow_id=hook["id"], workspace_id=hook["workspace_id"], trigger_type="webhook",
                                   payload=payload, idempotency_key=idempotency_key, body_hash=body_hash, hook=hook),
                        enqueue=enqueue)
    return started.id, started.created
