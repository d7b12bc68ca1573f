"""Cron firing: each (workflow, scheduled time) produces exactly one run.

Any number of schedulers may run: the Run unique constraint (workflow_id, idempotency_key) with
the key ``cron:<scheduled time>`` lets exactly one insert win. After downtime only the latest
missed tick is fired (and only if it is recent), never the whole backlog.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlmodel import select

from engine.config import get_settings
from engine.db import session_scope, utcnow
from engine.errors import FlowMateError
from engine.models import Trigger, Workflow
from engine.polling import poll_due
from engine.services.runs import create_run
from engine.triggers.cron import next_fire_times, previous_fire_time

log = structlog.get_logger("flowmate.scheduler")


def tick(now: datetime | None = None) -> int:
    """Fire every due cron trigger once; returns how many runs this call created."""
    now = now or utcnow()
    catchup = timedelta(seconds=get_settings().cron_catchup_seconds)
    with session_scope() as session:
        due = session.exec(
            select(Trigger, Workflow)
            .join(Workflow, Workflow.id == Trigger.workflow_id)
            .where(Trigger.type == "cron", Trigger.next_fire_at <= now, Workflow.enabled == True)  # noqa: E712
        ).all()
        jobs = [(t.id, w.id, w.workspace_id, t.config["expression"], w.timezone) for t, w in due]

    created = 0
    for trigger_id, workflow_id, workspace_id, expression, tz in jobs:
        scheduled = previous_fire_time(expression, tz, now)
        if now - scheduled <= catchup:
            try:
                _, was_new = create_run(
                    workflow_id, workspace_id=workspace_id, trigger_type="cron",
                    payload={"scheduled_at": scheduled.isoformat()},
                    idempotency_key=f"cron:{scheduled.isoformat()}", require_enabled=True,
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
                trigger.next_fire_at = next_fire_times(expression, tz, now)[0]
                session.add(trigger)
    return created + poll_due(now)
