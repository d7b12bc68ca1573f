"""Cron firing: exactly once per (workflow, tick) under concurrency; no replay of a long backlog."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from engine.db import session_scope
from engine.models import Run, Trigger
from engine.scheduler import tick
from engine.services.actor import Actor
from engine.services.workflows import create_workflow
from engine.triggers.cron import next_fire_times

CRON = {"name": "Report", "timezone": "Australia/Sydney",
        "trigger": {"type": "cron", "config": {"expression": "*/5 * * * *"}},
        "steps": [{"key": "log", "action": "core.log", "config": {"message": "{{ trigger.scheduled_at }}"}}]}


def _make(workspace: dict) -> str:
    with session_scope() as session:
        return create_workflow(session, Actor.system(workspace["id"]), CRON).id


def _set_next(workflow_id: str, when: datetime) -> None:
    with session_scope() as session:
        trig = session.exec(select(Trigger).where(Trigger.workflow_id == workflow_id)).first()
        trig.next_fire_at = when
        session.add(trig)


def _runs(workflow_id: str) -> list[Run]:
    with session_scope() as session:
        return list(session.exec(select(Run).where(Run.workflow_id == workflow_id).order_by(Run.created_at)).all())


def test_concurrent_schedulers_fire_each_tick_once(any_db: str, workspace: dict) -> None:
    wf_id = _make(workspace)
    base = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    for minute in (0, 5, 10):
        at = base + timedelta(minutes=minute, seconds=1)
        _set_next(wf_id, at - timedelta(seconds=1))
        threads = [threading.Thread(target=tick, kwargs={"now": at}) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    runs = _runs(wf_id)
    assert [r.trigger_payload["scheduled_at"] for r in runs] == [
        (base + timedelta(minutes=m)).isoformat() for m in (0, 5, 10)]


def test_downtime_fires_only_the_latest_recent_tick(sqlite_db: str, workspace: dict) -> None:
    wf_id = _make(workspace)
    _set_next(wf_id, datetime(2026, 12, 1, 0, 0, tzinfo=UTC))  # "down" since midnight
    now = datetime(2026, 12, 1, 9, 0, 30, tzinfo=UTC)
    assert tick(now=now) == 1
    runs = _runs(wf_id)
    assert len(runs) == 1 and runs[0].trigger_payload["scheduled_at"] == "2026-12-01T09:00:00+00:00"
    # next_fire_at moved forward: a second tick at the same time fires nothing.
    assert tick(now=now) == 0


def test_cron_uses_the_workflow_timezone() -> None:
    after = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    nine_am_sydney = next_fire_times("0 9 * * *", "Australia/Sydney", after, 1)[0]
    assert nine_am_sydney == datetime(2026, 12, 1, 22, 0, tzinfo=UTC)  # AEDT is UTC+11 in December


def test_the_scheduler_selects_trigger_types_by_their_next_fire_at_hook() -> None:
    """No `type == "cron"`: a type is time-based when its class implements ``next_fire_at``."""
    from engine.registry import TriggerType, all_triggers
    from engine.scheduler import timed_trigger_types

    class Hourly(TriggerType):  # a plugin's trigger type (not registered: the registry stays as it is)
        name = "test.hourly"
        title = "Hourly"

        def next_fire_at(self, config: dict, timezone: str, after: datetime) -> datetime | None:
            return after + timedelta(hours=1)

    assert Hourly.fires_by_time() and not TriggerType.fires_by_time()
    timed = timed_trigger_types()
    assert timed == sorted(name for name, kind in all_triggers().items() if type(kind).fires_by_time())
    assert "cron" in timed and "manual" not in timed and "webhook" not in timed
