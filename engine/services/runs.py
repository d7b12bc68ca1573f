"""Starting, reading, cancelling and re-running runs.

``create_run`` commits the Run row BEFORE the queue message is sent (design.md "Execution"):
if the enqueue is lost, the sweeper still finds the queued row, so a run is never lost.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from engine.db import as_aware, session_scope, utcnow
from engine.errors import Conflict, NotFound, QuotaExceeded, ValidationFailed
from engine.models import Role, Run, RunStatus, StepRun, StepStatus, Trigger, Workflow, Workspace
from engine.services import audit, hook_cache
from engine.services.actor import Actor
from engine.services.pagination import clamp_limit, decode_cursor, encode_cursor
from engine.services.usage import runs_this_month
from engine.services.workflows import cached_snapshot, get_workflow, run_snapshot

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
    from engine.config import get_settings

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
) -> tuple[Run, bool]:
    """Write a queued run (own transaction), then enqueue it.

    Returns ``(run, created)``; ``created`` is False when ``idempotency_key`` matched an earlier
    run with the same body hash (a replay). A different body with the same key raises Conflict.
    """
    with session_scope() as session:
        wf = session.exec(
            select(Workflow).where(Workflow.id == workflow_id, Workflow.workspace_id == workspace_id)
        ).first()
        if wf is None:
            raise NotFound("workflow not found")
        if require_enabled and not wf.enabled:
            raise NotFound("workflow not found or disabled")
        if idempotency_key:
            existing = session.exec(
                select(Run).where(Run.workflow_id == wf.id, Run.idempotency_key == idempotency_key)
            ).first()
            if existing is not None:
                return _replay(existing, body_hash), False
        if _over_quota(session, workspace_id):
            raise QuotaExceeded("this workspace has used its monthly run allowance; runs resume next month")
        run = Run(
            workspace_id=workspace_id, workflow_id=wf.id, workflow_version=wf.version,
            definition=run_snapshot(session, wf), trigger_type=trigger_type, trigger_payload=payload,
            idempotency_key=idempotency_key, request_hash=body_hash, rerun_of=rerun_of,
        )
        session.add(run)
        try:
            session.flush()  # the unique (workflow, idempotency key) constraint decides races here
        except IntegrityError:
            session.rollback()
            if not idempotency_key:
                raise
            existing = session.exec(
                select(Run).where(Run.workflow_id == wf.id, Run.idempotency_key == idempotency_key)
            ).first()
            if existing is None:
                raise
            return _replay(existing, body_hash), False
        if actor is not None:
            audit.record(session, actor, "run.start" if not rerun_of else "run.rerun", "run", run.id,
                         {"workflow_id": wf.id, "trigger": trigger_type})
        session.commit()
    from engine.metrics import RUNS_CREATED, safe_inc

    safe_inc(RUNS_CREATED, trigger=trigger_type)
    if enqueue:
        from engine.queue import enqueue_run

        enqueue_run(run.id, workspace_id=run.workspace_id)  # lets workers apply the per-workspace cap early
    return run, True


def _replay(existing: Run, body_hash: str | None) -> Run:
    if body_hash is not None and existing.request_hash not in (None, body_hash):
        raise Conflict("this Idempotency-Key was already used with a different request body")
    return existing


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
    """The run shape shared by the CLI (`runs show`), the API and the UI."""
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
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "next_attempt_at": _iso(run.next_attempt_at),
        "duration_ms": _duration_ms(run.started_at, run.finished_at),
    }
    if include_steps:
        from engine.redaction import redact  # trigger fields such as password/api_key, as in step inputs

        out["trigger"] = redact(run.trigger_payload)
        rows = {sr.step_key: sr for sr in session.exec(select(StepRun).where(StepRun.run_id == run.id)).all()}
        steps = []
        for step in run.definition.get("steps", []):
            sr = rows.get(step["key"])
            steps.append({
                "key": step["key"],
                "action": step["action"],
                "name": step.get("name") or "",
                "status": sr.status if sr else StepStatus.pending.value,
                "attempts": sr.attempts if sr else 0,
                "input": sr.input if sr else None,
                "output": sr.output if sr else None,
                "error": sr.error if sr else None,
                "retry_delays": sr.retry_delays if sr else [],
                "started_at": _iso(sr.started_at) if sr else None,
                "finished_at": _iso(sr.finished_at) if sr else None,
                "duration_ms": _duration_ms(sr.started_at, sr.finished_at) if sr else None,
            })
        out["steps"] = steps
    return out


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
    limit = clamp_limit(limit)
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
    if cursor:
        at, last_id = decode_cursor(cursor)
        stmt = stmt.where(or_(Run.created_at < at, (Run.created_at == at) & (Run.id < last_id)))
    rows = session.exec(stmt.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit + 1)).all()
    items = [run_public(session, r, include_steps=False) for r in rows[:limit]]
    next_cursor = encode_cursor(as_aware(rows[limit - 1].created_at), rows[limit - 1].id) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


def cancel_run(session: Session, actor: Actor, run_id: str) -> Run:
    """Cancel a queued, running or waiting run; a running step finishes, nothing after it runs."""
    actor.require(Role.editor)
    run = get_run(session, actor, run_id)
    if RunStatus(run.status).finished:
        raise Conflict(f"the run already {run.status}")
    result = session.exec(  # type: ignore[call-overload]
        update(Run)
        .where(Run.id == run.id, Run.status.in_(["queued", "running", "waiting"]))
        .values(status=RunStatus.cancelled.value, finished_at=utcnow(), lease_owner=None,
                error="cancelled by " + actor.label)
    )
    if not result.rowcount:
        raise Conflict("the run finished before it could be cancelled")
    audit.record(session, actor, "run.cancel", "run", run.id, {})
    session.flush()
    session.refresh(run)
    return run


def rerun(actor: Actor, run_id: str) -> Run:
    """Start a new run of the same workflow with the same trigger payload."""
    actor.require(Role.editor)
    with session_scope() as session:
        old = get_run(session, actor, run_id)
        workflow_id, trigger_type, payload = old.workflow_id, old.trigger_type, old.trigger_payload
        get_workflow(session, actor, workflow_id)
    run, _ = create_run(workflow_id, workspace_id=actor.workspace_id, trigger_type=trigger_type,
                        payload=payload, actor=actor, rerun_of=run_id)
    return run


def start_manual_run(actor: Actor, workflow_id: str, payload: Any) -> Run:
    actor.require(Role.editor)
    if payload is None:
        payload = {}
    try:
        json.dumps(payload)
    except (TypeError, ValueError):
        raise ValidationFailed("payload must be JSON", {"payload": "not JSON-serialisable"}) from None
    run, _ = create_run(workflow_id, workspace_id=actor.workspace_id, trigger_type="manual",
                        payload={"payload": payload}, actor=actor)
    return run


# --- webhook intake hot path --------------------------------------------------------------
# The intake answers hundreds of requests per second: these two functions use SQLAlchemy Core
# on an autocommit connection, so a request costs one SELECT and one INSERT (each its own
# round trip, the INSERT durable when it returns) instead of ORM sessions with BEGIN/COMMIT.

triggers_t = Trigger.__table__
workflows_t = Workflow.__table__
runs_t = Run.__table__


def find_webhook(token: str) -> dict[str, Any] | None:
    """What the intake needs about a webhook token (None when unknown): trigger config and
    encrypted secret, workflow id, workspace, enabled flag, version and updated_at."""
    cached = hook_cache.get(token)
    if cached is not None:
        return cached
    from sqlalchemy import select as core_select

    from engine.db import get_engine

    stmt = (
        core_select(triggers_t.c.config, triggers_t.c.secret_encrypted, workflows_t.c.id, workflows_t.c.workspace_id,
                    workflows_t.c.enabled, workflows_t.c.version, workflows_t.c.updated_at)
        .select_from(triggers_t.join(workflows_t, workflows_t.c.id == triggers_t.c.workflow_id))
        .where(triggers_t.c.webhook_token == token, triggers_t.c.type == "webhook")
    )
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(stmt).mappings().first()
    if row is None:
        return None
    facts = dict(row)
    hook_cache.put(token, facts)
    return facts


@lru_cache(maxsize=8)
def _intake_insert(dialect: str, idempotent: bool) -> Any:
    """The intake's INSERT, built once: building it per request cost a quarter of its CPU."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(runs_t)
    if idempotent:
        stmt = stmt.on_conflict_do_nothing(index_elements=["workflow_id", "idempotency_key"])
    return stmt.returning(runs_t.c.id)


def create_webhook_run(hook: dict[str, Any], payload: dict[str, Any], *, idempotency_key: str | None = None,
                       body_hash: str | None = None, enqueue: bool = True) -> tuple[str, bool]:
    """Write (durably) and enqueue a webhook run for ``hook`` (from :func:`find_webhook`).

    Same contract as :func:`create_run`: ``(run_id, created)``; a replayed idempotency key with
    the same body hash gives the first run's id and ``created=False``, a different body raises
    Conflict; an exhausted quota raises QuotaExceeded.
    """
    from sqlalchemy import select as core_select

    from engine.db import get_engine
    from engine.models import new_id

    engine = get_engine()
    workflow_id, workspace_id = hook["id"], hook["workspace_id"]

    def existing(conn: Any) -> tuple[str, bool] | None:
        row = conn.execute(core_select(runs_t.c.id, runs_t.c.request_hash)
                           .where(runs_t.c.workflow_id == workflow_id, runs_t.c.idempotency_key == idempotency_key)
                           ).first()
        if row is None:
            return None
        if body_hash is not None and row.request_hash not in (None, body_hash):
            raise Conflict("this Idempotency-Key was already used with a different request body")
        return row.id, False

    definition = cached_snapshot(workflow_id, hook["version"], hook["updated_at"])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if idempotency_key:
            found = existing(conn)
            if found:
                return found
        with Session(bind=conn) as session:  # only touches the database on a cache miss
            if _over_quota(session, workspace_id):
                raise QuotaExceeded("this workspace has used its monthly run allowance; runs resume next month")
            if definition is None:
                wf = session.get(Workflow, workflow_id)
                if wf is None:
                    raise NotFound("workflow not found")
                definition = run_snapshot(session, wf)
        run_id = new_id()
        params = {
            "id": run_id, "workspace_id": workspace_id, "workflow_id": workflow_id,
            "workflow_version": hook["version"], "definition": definition, "status": RunStatus.queued.value,
            "trigger_type": "webhook", "trigger_payload": payload, "attempt": 0,
            "idempotency_key": idempotency_key, "request_hash": body_hash, "created_at": utcnow(),
        }
        inserted = conn.execute(_intake_insert(engine.dialect.name, bool(idempotency_key)), params).first()
        if inserted is None:  # a concurrent request with the same key won the race
            found = existing(conn)
            if found is None:
                raise Conflict("could not record the run; retry")
            return found
    from engine.metrics import RUNS_CREATED, safe_inc

    safe_inc(RUNS_CREATED, trigger="webhook")
    if enqueue:
        from engine.queue import enqueue_run

        enqueue_run(run_id, workspace_id=hook["workspace_id"])
    return run_id, True
