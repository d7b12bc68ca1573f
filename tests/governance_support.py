"""Test data for the data-governance tests: workspaces with workflows, runs and step runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.db import get_engine, session_scope, utcnow
from engine.models import Run, StepRun

SECRET = "sk-live-SUPERSECRET-4242"


def make_workflow(actor: Any, name: str = "Lead follow-up", steps: list[dict[str, Any]] | None = None) -> str:
    from engine.services.workflows import create_workflow

    with session_scope() as session:
        wf = create_workflow(session, actor, {
            "name": name, "trigger": {"type": "webhook", "config": {}},
            "steps": steps or [{"key": "note", "action": "core.log", "config": {"message": "hi"}}]})
        session.flush()
        return wf.id


def insert_runs(workspace_id: str, workflow_id: str, count: int, *, finished_at: datetime | None = None,
                status: str = "succeeded", payload: Any = None, steps_per_run: int = 2,
                step_input: Any = None, step_output: Any = None, chunk: int = 2000) -> list[str]:
    """Insert ``count`` runs (each with ``steps_per_run`` step runs) with Core bulk inserts."""
    from engine.models import new_id

    finished_at = finished_at or utcnow()
    ids: list[str] = []
    engine = get_engine()
    for start in range(0, count, chunk):
        runs, steps = [], []
        for i in range(start, min(count, start + chunk)):
            run_id = new_id()
            ids.append(run_id)
            runs.append({"id": run_id, "workspace_id": workspace_id, "workflow_id": workflow_id,
                         "workflow_version": 1, "definition": {}, "status": status, "trigger_type": "webhook",
                         "trigger_payload": payload if payload is not None else {"n": i}, "attempt": 1,
                         "created_at": finished_at - timedelta(seconds=1), "started_at": finished_at,
                         "finished_at": finished_at if status in ("succeeded", "failed", "cancelled") else None})
            for p in range(steps_per_run):
                steps.append({"id": new_id(), "run_id": run_id, "step_key": f"s{p}", "action": "core.log",
                              "position": p, "status": "succeeded", "attempts": 1,
                              "input": step_input if step_input is not None else {"i": i},
                              "output": step_output if step_output is not None else {"ok": True},
                              "retry_delays": []})
        with engine.begin() as conn:
            conn.execute(Run.__table__.insert(), runs)
            if steps:
                conn.execute(StepRun.__table__.insert(), steps)
    return ids


def count_rows(model: Any, *where: Any) -> int:
    from sqlalchemy import func, select

    with get_engine().connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model.__table__).where(*where)).scalar() or 0)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reset_engine_state() -> None:
    """Forget cached settings, engines and the broker (the same as tests/conftest.py's)."""
    from engine.config import get_settings
    from engine.db import dispose_engines
    from engine.queue import reset_broker

    reset_broker()
    dispose_engines()
    get_settings.cache_clear()
