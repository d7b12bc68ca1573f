"""After real runs (successful and failing), no clear secret is anywhere: not in the SQLite file, not in
any row, not in captured logs, not in run_public / connection_public / exported workflows."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fake_providers import (
    API_TOKEN,
    HUBSPOT_TOKEN,
    SIGNING_SECRET,
    SLACK_PATH,
    SMTP_PASSWORD,
    TWILIO_SID,
    TWILIO_TOKEN,
    Reply,
)
from integ_helpers import one_step_workflow, run_now, webhook_payload

from engine.catalog import get_template, instantiate
from engine.catalog.templates import INTEGRATION_TEMPLATES, TEMPLATES

HOOK_SECRET = "hook-hmac-S3CR3T-u4v3w2"


def _secrets(slack_url: str) -> list[str]:
    basic = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    return [TWILIO_TOKEN, HUBSPOT_TOKEN, API_TOKEN, SIGNING_SECRET, SMTP_PASSWORD, HOOK_SECRET,
            SLACK_PATH.rsplit("/", 1)[1], slack_url, basic]


def test_no_secret_in_database_logs_or_api_shapes(connected: dict[str, Any], caplog: pytest.LogCaptureFixture,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import inspect, text

    from engine.db import get_engine, session_scope
    from engine.models import Connection, Run, Workflow
    from engine.services.actor import Actor
    from engine.services.connections import connection_public, list_connections
    from engine.services.runs import run_public
    from engine.services.workflows import create_workflow, export_definition, workflow_public

    caplog.set_level(logging.DEBUG)
    ws = connected["workspace"]["id"]
    providers = connected["providers"]
    actor = Actor.system(ws)
    secrets = _secrets(providers.url + SLACK_PATH)

    # Every template, with its defaults, for real (the integration templates need OAuth connections and
    # signed deliveries: test_integ_integration_templates.py runs them and checks their secrets).
    run_ids = []
    for template in (t for t in TEMPLATES if t not in INTEGRATION_TEMPLATES):
        with session_scope() as session:
            wf_id = instantiate(session, actor, template.slug).id
            trigger = workflow_public(session, session.get(Workflow, wf_id))["trigger"]["type"]
        payload = (template.sample_payload if trigger == "cron" else webhook_payload(template.sample_payload))
        run = run_now(wf_id, ws, trigger, payload)
        assert run["status"] == "succeeded", run
        run_ids.append(run["id"])

    # Failures where providers echo credentials back in their error bodies.
    providers.fail_next["/crm/"] = Reply(400, {"message": f"Bad header: Authorization: Bearer {HUBSPOT_TOKEN}"})
    wf = one_step_workflow(ws, "crm.upsert_contact", {"connection": "hubspot", "email": "a@example.com"})
    failed = run_now(wf, ws, "manual", {"payload": {}})
    assert failed["status"] == "failed" and "Bad header" in failed["error"]
    providers.fail_next["/2010-04-01/"] = Reply(400, {"message": f"token {TWILIO_TOKEN} refused"})
    wf = one_step_workflow(ws, "sms.send", {"connection": "sms", "to": "0412345678", "body": "x"})
    failed2 = run_now(wf, ws, "manual", {"payload": {}})
    assert failed2["status"] == "failed"
    providers.fail_next["/leads"] = Reply(500, {"error": f"signature key {SIGNING_SECRET} / {API_TOKEN}"})
    wf = one_step_workflow(ws, "http.request", {"method": "POST", "url": "/leads", "connection": "business-api",
                                                "json": {"a": 1}, "sign": {"secret_connection": "business-api"}})
    failed3 = run_now(wf, ws, "manual", {"payload": {}})
    assert failed3["status"] == "failed"
    run_ids += [failed["id"], failed2["id"], failed3["id"]]

    # A webhook trigger with an HMAC secret.
    with session_scope() as session:
        hook_wf = create_workflow(session, actor, {
            "name": "signed", "trigger": {"type": "webhook", "config": {"auth": {"type": "hmac",
                                                                                "secret": HOOK_SECRET}}},
            "steps": [{"key": "log", "action": "core.log", "config": {"message": "hi"}}]}).id

    # -- what the API / UI / CLI would show ------------------------------------------------------
    with session_scope() as session:
        shown = {
            "runs": [run_public(session, session.get(Run, rid)) for rid in run_ids],
            "connections": [connection_public(c) for c in session.query(Connection).all()],
            "list": list_connections(session, actor),
            "workflows": [workflow_public(session, w) for w in session.query(Workflow).all()],
            "export": export_definition(session, actor, hook_wf),
        }
    shown_text = json.dumps(shown, default=str)
    assert shown["connections"][0]["secrets_set"]  # shows WHICH secrets are set ...

    # -- every row of every table, and the raw database file ----------------------------------
    engine = get_engine()
    rows_text = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            rows_text += [json.dumps(list(r), default=str) for r in conn.execute(text(f'SELECT * FROM "{table}"'))]
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    db_path = Path(connected["db"].removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))

    logs = caplog.text + "".join(capfd.readouterr())
    assert "step.succeeded" in logs or "run.succeeded" in logs  # we did capture the engine's logs

    for secret in secrets:
        assert secret not in shown_text, f"secret in API shapes: {secret[:8]}…"
        assert not any(secret in row for row in rows_text), f"secret in a database row: {secret[:8]}…"
        assert secret.encode() not in raw, f"secret in the database file: {secret[:8]}…"
        assert secret not in logs, f"secret in logs: {secret[:8]}…"
    assert get_template("new-lead-welcome")  # the catalog itself holds no secrets either
    assert not any(s in json.dumps([t.sample_payload for t in TEMPLATES]) for s in secrets)
