"""Polling triggers' duty: ask each due source for its items and start one run per new item.

Called once per scheduler tick (:func:`poll_due`). For every enabled workflow whose polling
trigger is due:

1. **Claim** the poll with one conditional UPDATE that moves ``next_fire_at`` an interval ahead
   (``WHERE next_fire_at <= now``): with several schedulers exactly one wins, so a source is asked
   once per interval.
2. **Fetch** the items the source has now (the trigger type's ``fetch``).
3. The **first** poll (or the first after the source changed) only records the ids it saw: it
   never replays what was there before the trigger was set up.
4. Each item whose id is not in the seen-set starts **one run** (``trigger.item``), with the run
   idempotency key ``poll:<id>`` as a second guard; the seen-set keeps the newest
   :data:`SEEN_LIMIT` ids so it stays bounded.
5. A provider error backs off (interval × 2^failures, at most :data:`MAX_BACKOFF`, never before
   the provider's ``Retry-After``) and is kept in
   ``last_error`` for the builder; the next good poll resets it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlmodel import select

from engine.context import ActionContext
from engine.db import get_engine, session_scope, utcnow
from engine.errors import FlowMateError
from engine.models import PollState, Trigger, Workflow
from engine.oauth import tokens as oauth_tokens
from engine.registry import all_triggers
from engine.services.connections import load_connection
from engine.services.runs import create_run
from engine.triggers.polling_base import PollingTrigger

log = structlog.get_logger("flowmate.polling")

#: How many item ids a workflow remembers (the newest): enough for any page a source returns.
SEEN_LIMIT = 2000
MAX_BACKOFF = timedelta(hours=6)
#: Polls per tick at most, so one tick cannot hold the scheduler for long.
MAX_POLLS_PER_TICK = 50

triggers_t = Trigger.__table__


def polling_types() -> dict[str, PollingTrigger]:
    return {name: t for name, t in all_triggers().items() if isinstance(t, PollingTrigger)}


def poll_due(now: datetime | None = None) -> int:
    """Poll every due polling trigger once; returns how many runs were started."""
    now = now or utcnow()
    kinds = polling_types()
    if not kinds:
        return 0
    with session_scope() as session:
        due = session.exec(
            select(Trigger.id, Trigger.type, Trigger.config, Workflow.id, Workflow.workspace_id)
            .join(Workflow, Workflow.id == Trigger.workflow_id)
            .where(Trigger.type.in_(list(kinds)), Trigger.next_fire_at <= now,  # type: ignore[attr-defined]
                   Workflow.enabled == True)  # noqa: E712
            .limit(MAX_POLLS_PER_TICK)
        ).all()
    started = 0
    for trigger_id, kind_name, config, workflow_id, workspace_id in due:
        kind = kinds[kind_name]
        if not _claim(trigger_id, now, now + kind.interval(config)):
            continue  # another scheduler polls this one
        try:
            started += poll_one(kind, dict(config), workflow_id, workspace_id, trigger_id, now)
        except Exception:  # one broken source must not stop the others
            log.exception("poll.crashed", workflow_id=workflow_id, trigger=kind_name)
    return started


def _claim(trigger_id: str, now: datetime, next_at: datetime) -> bool:
    with get_engine().begin() as conn:
        result = conn.execute(update(triggers_t).where(triggers_t.c.id == trigger_id, triggers_t.c.next_fire_at <= now)
                              .values(next_fire_at=next_at))
    return result.rowcount == 1


def _context(workflow_id: str, workspace_id: str, now: datetime) -> ActionContext:
    return ActionContext(run_id=f"poll-{workflow_id}-{int(now.timestamp())}", step_key="poll", workflow_id=workflow_id,
                         workspace_id=workspace_id, connection_loader=lambda ref: load_connection(workspace_id, ref),
                         oauth=oauth_tokens, log=log)


def poll_one(kind: PollingTrigger, config: dict[str, Any], workflow_id: str, workspace_id: str, trigger_id: str,
             now: datetime) -> int:
    """Fetch one source and start a run per new item (the claim is already ours)."""
    source = kind.source_hash(config)
    with session_scope() as session:
        state = session.get(PollState, workflow_id)
        known = state is not None and state.config_hash == source and state.trigger_type == kind.name
        seen = list(state.seen) if known and state is not None else []
        failures = state.failures if state is not None else 0
    try:
        items = asyncio.run(kind.fetch(_context(workflow_id, workspace_id, now), config))
    except FlowMateError as exc:
        _failed(kind, config, workflow_id, workspace_id, trigger_id, failures + 1, str(exc), now,
                getattr(exc, "retry_after", None))
        log.warning("poll.failed", workflow_id=workflow_id, trigger=kind.name, reason=str(exc)[:200])
        return 0
    started = 0
    if known:
        seen_set = set(seen)
        for item_id, item in items:
            if item_id in seen_set:
                continue
            try:
                _, created = create_run(
                    workflow_id, workspace_id=workspace_id, trigger_type=kind.name,
                    payload={"item": item, "item_id": item_id, "polled_at": now.isoformat()},
                    idempotency_key=f"poll:{item_id}"[:255], require_enabled=True)
            except FlowMateError as exc:  # quota, disabled meanwhile: try this item again next poll
                log.warning("poll.run_refused", workflow_id=workflow_id, reason=str(exc))
                break
            started += int(created)
            seen.append(item_id)
            seen_set.add(item_id)
    else:
        seen = [item_id for item_id, _ in items]
        log.info("poll.baseline", workflow_id=workflow_id, trigger=kind.name, items=len(seen))
    _save(workflow_id, workspace_id, kind.name, source, seen[-SEEN_LIMIT:], now, started, baseline=not known)
    return started


def _save(workflow_id: str, workspace_id: str, kind: str, source: str, seen: list[str], now: datetime, started: int,
          *, baseline: bool) -> None:
    with session_scope() as session:
        state = session.get(PollState, workflow_id) or PollState(
            workflow_id=workflow_id, workspace_id=workspace_id, trigger_type=kind, config_hash=source)
        state.trigger_type, state.config_hash, state.seen = kind, source, seen
        if baseline:
            state.baseline_at, state.runs_started = now, 0
        state.runs_started += started
        state.last_polled_at, state.failures, state.last_error, state.updated_at = now, 0, "", utcnow()
        session.add(state)


def _failed(kind: PollingTrigger, config: dict[str, Any], workflow_id: str, workspace_id: str, trigger_id: str,
            failures: int, reason: str, now: datetime, retry_after: float | None) -> None:
    """Keep the error and push the next poll out: interval × 2^failures, capped; never sooner than
    the provider's own ``Retry-After`` (Xero's daily limit says when it resets)."""
    delay = min(kind.interval(config) * (2 ** min(failures, 16)), MAX_BACKOFF)
    if retry_after:
        delay = max(delay, min(timedelta(seconds=retry_after), timedelta(days=1)))
    with session_scope() as session:
        state = session.get(PollState, workflow_id)
        if state is None:  # no starting point yet: the first good poll records one
            state = PollState(workflow_id=workflow_id, workspace_id=workspace_id, trigger_type=kind.name,
                              config_hash="", seen=[])
        state.failures, state.last_error, state.last_polled_at, state.updated_at = failures, reason[:500], now, utcnow()
        session.add(state)
        trigger = session.get(Trigger, trigger_id)
        if trigger is not None:
            trigger.next_fire_at = now + delay
            session.add(trigger)


def poll_status(workflow_id: str) -> dict[str, Any] | None:
    """What the builder shows about a workflow's polling: baseline, last poll, last error."""
    with session_scope() as session:
        state = session.get(PollState, workflow_id)
        if state is None:
            return None
        return {"baseline_at": state.baseline_at.isoformat() if state.baseline_at else None,
                "last_polled_at": state.last_polled_at.isoformat() if state.last_polled_at else None,
                "runs_started": state.runs_started, "failures": state.failures, "last_error": state.last_error,
                "seen": len(state.seen)}
