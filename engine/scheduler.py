"""Time-based firing (cron, or a plugin's trigger type): each (workflow, scheduled time) produces
exactly one run.

Which triggers fire by time is the trigger types' business: a type that implements the
``next_fire_at`` hook (engine.registry.TriggerType) gets its due triggers selected here, and its
``last_fire_at`` hook names the scheduled time to fire. Any number of schedulers may run: the
Run unique constraint (workflow_id, idempotency_key) with the key ``<type>:<scheduled time>``
lets exactly one insert win. After downtime only the latest
missed tick is fired (and only if it is recent), never the whole backlog.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlmodel import select

from engine.config import get_settings
from engine.db import as_aware, session_scope, utcnow
from engine.errors import FlowMateError
from engine.models import Trigger, Workflow
from engine.polling import poll_due
from engine.registry import all_triggers, get_trigger
from engine.services.runs import create_run

log = structlog.get_logger("flowmate.scheduler")


def timed_trigger_types() -> list[str]:
    """Names of the registered trigger types that fire by time (cron, plugins' own)."""
    return sorted(name for name, kind in all_triggers().items() if kind.fires_by_time())


def tick(now: datetime | None = None) -> int:
    """Fire every due time-based trigger once; returns how many runs this call created."""
    now = now or utcnow()
    catchup = timedelta(seconds=get_settings().cron_catchup_seconds)
    with session_scope() as session:
        due = session.exec(
            select(Trigger, Workflow)
            .join(Workflow, Workflow.id == Trigger.workflow_id)
            .where(Trigger.type.in_(timed_trigger_types()), Trigger.next_fire_at <= now,
                   Workflow.enabled == True)  # noqa: E712
        ).all()
        jobs = [(t.id, w.id, w.workspace_id, t.type, dict(t.config), w.timezone, as_aware(t.next_fire_at))
                for t, w in due]

    created = 0
    for trigger_id, workflow_id, workspace_id, kind_name, config, tz, stored_due in jobs:
        kind = get_trigger(kind_name)
        scheduled = kind.last_fire_at(config, tz, now) or stored_due
        if now - scheduled <= catchup:
            try:
                _, was_new = create_run(
                    workflow_id, workspace_id=workspace_id, trigger_type=kind_name,
                    payload={"scheduled_at": scheduled.isoformat()},
                    idempotency_key=f"{kind_name}:{scheduled.isoformat()}", require_enabled=True,
                )
                created += int(was_new)
                if was_new:
                    log.info("cron.fired", workflow_id=workflow_id, scheduled_at=scheduled.isoformat())
            except FlowMateError as exc:
                log.warning("cron.skipped", workflow_id=workflow_id, reason=str(exc))
        else:
            log.info("cron.missed", workflow_id=workflow_id, scheduled_at=scheduled.isoformat())
        with session_scope() as session:
            trigger = session.get(Trigger, trigger_id)
            if trigger is not None:
                trigger.next_fire_at = kind.next_fire_at(config, tz, now)
                session.add(trigger)
    return created + poll_due(now)
