"""The same run, whoever starts it: webhook, cron, manual (UI service), API and CLI.

All five go through engine.services.runs.start_run, so the stored row and its public shape
(engine.schemas.RunDetail) are identical apart from the trigger type and payload; a person's or
token's start is audited in the same transaction, a webhook's or cron tick's is not. No worker
runs here, so every run is still queued when it is read back.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import timedelta

import pytest
from conftest import _client, make_tenant
from sqlmodel import select

from engine.db import session_scope, utcnow
from engine.models import AuditLog, Run, Trigger
from engine.schemas import RunDetail
from engine.services.actor import Actor
from engine.services.runs import run_public
from engine.services.workflows import create_workflow

STEPS = [{"key": "note", "action": "core.log", "config": {"message": "got {{ trigger }}"}}]
TRIGGERS = {"webhook": {"type": "webhook", "config": {}},
            "cron": {"type": "cron", "config": {"expression": "* * * * *"}},
            "manual": {"type": "manual", "config": {}}, "api": {"type": "manual", "config": {}},
            "cli": {"type": "manual", "config": {}}}
#: source → (stored trigger_type, payload keys, audited)
EXPECTED = {"webhook": ("webhook", {"method", "headers", "query", "body"}, False),
            "cron": ("cron", {"scheduled_at"}, False),
            "manual": ("manual", {"payload"}, True), "api": ("manual", {"payload"}, True),
            "cli": ("manual", {"payload"}, True)}


def _start(source: str, client, tenant, workflow_id: str) -> str:  # noqa: ANN001
    if source == "webhook":
        with session_scope() as session:
            token = session.exec(select(Trigger).where(Trigger.workflow_id == workflow_id)).one().webhook_token
        r = client.post(f"/hooks/{token}", json={"email": "jo@example.com.au"})
        assert r.status_code == 202, r.text
        return r.json()["run_id"]
    if source == "cron":
        from engine.scheduler import tick

        with session_scope() as session:
            trigger = session.exec(select(Trigger).where(Trigger.workflow_id == workflow_id)).one()
            trigger.next_fire_at = utcnow() - timedelta(minutes=1)
        assert tick() == 1
        with session_scope() as session:
            return session.exec(select(Run).where(Run.workflow_id == workflow_id)).one().id
    if source == "manual":
        from engine.services.runs import start_manual_run

        return start_manual_run(Actor.system(tenant.id, label="ui"), workflow_id, {"email": "jo@example.com.au"}).id
    if source == "api":
        r = client.post(f"/api/v1/workflows/{workflow_id}/runs", json={"payload": {"email": "jo@example.com.au"}},
                        headers=tenant.auth("editor"))
        assert r.status_code == 202, r.text
        return r.json()["id"]
    from engine.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["run", workflow_id, "--payload", json.dumps({"email": "jo@example.com.au"})]) == 0
    return json.loads(out.getvalue())["id"]


@pytest.mark.parametrize("source", list(EXPECTED))
def test_same_run_shape_from_every_source(any_db: str, source: str) -> None:
    from flowmate_app.api import build_api

    tenant = make_tenant("Shape")
    with session_scope() as session:
        wf = create_workflow(session, Actor.system(tenant.id), {"name": "Shape", "trigger": TRIGGERS[source],
                                                                 "steps": STEPS})
        workflow_id = wf.id
    with _client(build_api()) as client:
        run_id = _start(source, client, tenant, workflow_id)

    trigger_type, payload_keys, audited = EXPECTED[source]
    with session_scope() as session:
        run = session.get(Run, run_id)
        shown = run_public(session, run)
        row = {"definition": run.definition, "workflow_version": run.workflow_version, "attempt": run.attempt}
        audits = session.exec(select(AuditLog).where(AuditLog.object_id == run_id)).all()

    assert set(shown) == set(RunDetail.model_fields)  # every field of the public shape, nothing else
    RunDetail.model_validate(shown)
    assert shown["status"] == "queued" and shown["trigger_type"] == trigger_type
    assert shown["workflow_id"] == workflow_id and shown["workflow_name"] == "Shape"
    assert shown["workflow_version"] == 1 and shown["attempt"] == 0 and shown["rerun_of"] is None
    assert shown["started_at"] is None and shown["finished_at"] is None and shown["created_at"]
    assert set(shown["trigger"]) == payload_keys
    if "payload" in payload_keys:
        assert shown["trigger"]["payload"] == {"email": "jo@example.com.au"}
    if "body" in payload_keys:
        assert shown["trigger"]["body"] == {"email": "jo@example.com.au"}
    assert [(s["key"], s["action"], s["status"], s["attempts"]) for s in shown["steps"]] == [
        ("note", "core.log", "pending", 0)]
    assert row["definition"] == {"name": "Shape", "steps": [
        {**STEPS[0], "retry": {"max_attempts": 3, "initial_delay_s": 1.0, "factor": 2.0, "max_delay_s": 300.0}}]}
    assert [(a.action, a.changes["trigger"]) for a in audits] == ([("run.start", trigger_type)] if audited else [])
