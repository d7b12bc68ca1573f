"""Read-only aggregates for the web app's dashboard, scoped by the actor's workspace.

Every query filters on ``workspace_id`` and a ``created_at`` window first, so it walks the
``ix_run_ws_created (workspace_id, created_at, id)`` index and touches only the last week of
runs, however long the history is. Durations are computed in Python from a bounded sample (the
newest finished runs), which gives an honest p50 without a dialect-specific percentile.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from engine.db import as_aware, utcnow
from engine.models import Connection, Run, RunStatus, Workflow, Workspace
from engine.services.actor import Actor
from engine.states import ACTIVE_RUN_STATES, TERMINAL_RUN_STATES

DURATION_SAMPLE = 2000
DAYS = 7
IN_FLIGHT = tuple(sorted(s.value for s in ACTIVE_RUN_STATES))
#: Finished runs whose duration says something about the workflow (a cancelled one's does not).
TIMED = tuple(sorted(s.value for s in TERMINAL_RUN_STATES - {RunStatus.cancelled}))


def _zone(session: Session, actor: Actor) -> ZoneInfo:
    name = session.exec(select(Workspace.timezone).where(Workspace.id == actor.workspace_id)).first()
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _day_start(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def summary(session: Session, actor: Actor, now: datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows, in one call (a handful of indexed queries)."""
    now = now or utcnow()
    zone = _zone(session, actor)
    week_start = _day_start(now - timedelta(days=DAYS - 1), zone)
    ws = actor.workspace_id
    in_week = (Run.workspace_id == ws, Run.created_at >= week_start)

    # Runs per (local day, status): one GROUP BY per day with exact local-midnight bounds (seven
    # index range scans), so zones with half-hour offsets (Adelaide, Darwin) split days correctly.
    days = [(week_start.astimezone(zone) + timedelta(days=i)).date() for i in range(DAYS)]
    per_day: dict[Any, dict[str, int]] = {}
    by_status: dict[str, int] = {}
    for d in days:
        lo = datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC)
        hi = (datetime(d.year, d.month, d.day, tzinfo=zone) + timedelta(days=1)).astimezone(UTC)
        rows = session.exec(
            select(Run.status, func.count())
            .where(Run.workspace_id == ws, Run.created_at >= lo, Run.created_at < hi)
            .group_by(Run.status)
        ).all()
        per_day[d] = {status: int(n) for status, n in rows}
        for status, n in per_day[d].items():
            by_status[status] = by_status.get(status, 0) + n
    runs_today = sum(per_day[days[-1]].values())
    chart = [
        {
            "day": d.strftime("%a %d"),
            "date": d.isoformat(),
            **{s.value: per_day[d].get(s.value, 0) for s in TERMINAL_RUN_STATES},
            "in_flight": sum(per_day[d].get(s, 0) for s in IN_FLIGHT),
        }
        for d in days
    ]
    runs_week = sum(by_status.values())
    succeeded = by_status.get(RunStatus.succeeded.value, 0)
    failed = by_status.get(RunStatus.failed.value, 0)
    finished = succeeded + failed
    success_rate = round(100.0 * succeeded / finished, 1) if finished else None

    durations = session.exec(
        select(Run.started_at, Run.finished_at)
        .where(*in_week, Run.status.in_(TIMED), Run.started_at.is_not(None), Run.finished_at.is_not(None))
        .order_by(Run.created_at.desc())
        .limit(DURATION_SAMPLE)
    ).all()
    ms = [(as_aware(f) - as_aware(s)).total_seconds() * 1000 for s, f in durations]
    p50_ms = int(statistics.median(ms)) if ms else None

    failed_recent = session.exec(
        select(Run).where(*in_week, Run.status == RunStatus.failed.value)
        .order_by(Run.created_at.desc(), Run.id.desc()).limit(5)
    ).all()

    top = session.exec(
        select(Run.workflow_id, func.count().label("n")).where(*in_week)
        .group_by(Run.workflow_id).order_by(func.count().desc()).limit(5)
    ).all()
    wanted = {w for w, _ in top} | {r.workflow_id for r in failed_recent}
    names: dict[str, str] = {}
    if wanted:
        names = dict(session.exec(
            select(Workflow.id, Workflow.name).where(Workflow.workspace_id == ws, Workflow.id.in_(wanted))
        ).all())
    top_failed = dict(session.exec(
        select(Run.workflow_id, func.count()).where(*in_week, Run.status == RunStatus.failed.value,
                                                    Run.workflow_id.in_([w for w, _ in top] or [""]))
        .group_by(Run.workflow_id)
    ).all())

    workflows_total = session.exec(select(func.count()).select_from(Workflow).where(Workflow.workspace_id == ws)).one()
    workflows_enabled = session.exec(
        select(func.count()).select_from(Workflow).where(Workflow.workspace_id == ws, Workflow.enabled.is_(True))
    ).one()
    connections = session.exec(
        select(func.count()).select_from(Connection).where(Connection.workspace_id == ws)
    ).one()
    in_flight = session.exec(
        select(func.count()).select_from(Run).where(*in_week, Run.status.in_(IN_FLIGHT))
    ).one()

    return {
        "timezone": zone.key,
        "runs_today": runs_today,
        "runs_week": runs_week,
        "succeeded_week": succeeded,
        "failed_week": failed,
        "in_flight": int(in_flight),
        "success_rate": success_rate,
        "p50_ms": p50_ms,
        "duration_sample": len(ms),
        "chart": chart,
        "failed_recent": [
            {"id": r.id, "workflow_id": r.workflow_id,
             "workflow_name": names.get(r.workflow_id) or (r.definition or {}).get("name") or "",
             "error": (r.error or "")[:300], "created_at": as_aware(r.created_at).isoformat()}
            for r in failed_recent
        ],
        "top_workflows": [
            {"id": wid, "name": names.get(wid, "(deleted workflow)"), "runs": int(n),
             "failed": int(top_failed.get(wid, 0))}
            for wid, n in top
        ],
        "workflows_total": int(workflows_total),
        "workflows_enabled": int(workflows_enabled),
        "connections": int(connections),
    }


def last_run_by_workflow(session: Session, actor: Actor, workflow_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Status and time of the newest run of each workflow (one indexed lookup per workflow).

    ``ix_run_workflow_created (workflow_id, created_at)`` answers each lookup with one index probe,
    so a page of 50 workflows costs 50 tiny queries instead of a scan of the runs table.
    """
    out: dict[str, dict[str, Any]] = {}
    for wid in workflow_ids:
        run = session.exec(
            select(Run.id, Run.status, Run.created_at)
            .where(Run.workflow_id == wid, Run.workspace_id == actor.workspace_id)
            .order_by(Run.created_at.desc()).limit(1)
        ).first()
        if run is not None:
            out[wid] = {"id": run[0], "status": run[1], "created_at": as_aware(run[2]).isoformat()}
    return out
