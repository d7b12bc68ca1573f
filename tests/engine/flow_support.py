"""Helpers shared by the flow-control tests (tests/engine/test_flow_*.py)."""

from __future__ import annotations

from typing import Any

from support import wait_for

from engine.db import session_scope
from engine.models import Run
from engine.services.actor import Actor
from engine.services.runs import run_public, start_manual_run
from engine.services.workflows import create_workflow

FINISHED = ("succeeded", "failed", "cancelled")


def make_workflow(workspace: dict[str, str], definition: dict) -> tuple[Actor, str]:
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        wf = create_workflow(session, actor, definition)
        return actor, wf.id


def show(run_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return run_public(session, session.get(Run, run_id))


def start(actor: Actor, workflow_id: str, payload: Any = None) -> str:
    return start_manual_run(actor, workflow_id, payload or {}).id


def wait_status(run_id: str, statuses: tuple[str, ...] = FINISHED, timeout: float = 60) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        shown = show(run_id)
        return shown if shown["status"] in statuses else None

    return wait_for(reached, timeout=timeout)


def run_and_wait(actor: Actor, workflow_id: str, payload: Any = None, timeout: float = 60) -> dict[str, Any]:
    return wait_status(start(actor, workflow_id, payload), timeout=timeout)


def by_path(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["path"]: s for s in run["steps"]}


def log(key: str, message: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"key": key, "action": "core.log", "config": {"message": message}, **extra}
