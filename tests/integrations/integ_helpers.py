"""Helpers for integration tests: connections at the local servers, running workflows in-process."""

from __future__ import annotations

import json
from typing import Any

from fake_providers import (
    API_TOKEN,
    CLICKSEND_KEY,
    CLICKSEND_USER,
    HUBSPOT_TOKEN,
    SIGNING_SECRET,
    SLACK_PATH,
    SMTP_PASSWORD,
    SMTP_USER,
    TWILIO_SID,
    TWILIO_TOKEN,
    FakeProviders,
)


def connection_specs(providers: FakeProviders, smtp_port: int, sms: str = "twilio") -> list[dict[str, Any]]:
    """Every connection the templates use by default, pointing at the local servers."""
    sms_conn: dict[str, Any] = (
        {"type": "twilio", "name": "sms", "config": {"account_sid": TWILIO_SID, "from_number": "+61400000000",
                                                     "base_url": providers.url},
         "secret": {"auth_token": TWILIO_TOKEN}}
        if sms == "twilio" else
        {"type": "clicksend", "name": "sms", "config": {"username": CLICKSEND_USER, "from_number": "HarbourDent",
                                                        "base_url": providers.url},
         "secret": {"api_key": CLICKSEND_KEY}}
    )
    return [
        {"type": "smtp", "name": "smtp", "config": {"host": "127.0.0.1", "port": smtp_port, "security": "none",
                                                    "username": SMTP_USER, "from_email": "hello@harbour.example",
                                                    "from_name": "Harbour Plumbing"},
         "secret": {"password": SMTP_PASSWORD}},
        sms_conn,
        {"type": "hubspot", "name": "hubspot", "config": {"base_url": providers.url},
         "secret": {"access_token": HUBSPOT_TOKEN}},
        {"type": "slack", "name": "slack", "config": {}, "secret": {"webhook_url": providers.url + SLACK_PATH}},
        {"type": "http", "name": "business-api", "config": {"auth_type": "bearer", "base_url": providers.url},
         "secret": {"token": API_TOKEN, "signing_secret": SIGNING_SECRET}},
    ]


def create_connections(workspace_id: str, specs: list[dict[str, Any]]) -> dict[str, str]:
    from engine.db import session_scope
    from engine.services.actor import Actor
    from engine.services.connections import create_connection

    ids = {}
    with session_scope() as session:
        for spec in specs:
            ids[spec["name"]] = create_connection(session, Actor.system(workspace_id), spec).id
    return ids


def webhook_payload(body: Any) -> dict[str, Any]:
    from engine.triggers.webhook import build_payload

    return build_payload("POST", {"content-type": "application/json", "user-agent": "pytest"}, {},
                         json.dumps(body).encode(), "application/json")


def run_now(workflow_id: str, workspace_id: str, trigger_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Create a run (no queue) and execute it in-process; returns run_public."""
    from engine.db import session_scope
    from engine.executor import Executor
    from engine.models import Run
    from engine.services.runs import create_run, run_public

    run, _ = create_run(workflow_id, workspace_id=workspace_id, trigger_type=trigger_type, payload=payload,
                        enqueue=False)
    Executor().execute(run.id)
    with session_scope() as session:
        return run_public(session, session.get(Run, run.id))


def one_step_workflow(workspace_id: str, action: str, config: dict[str, Any], *, key: str = "step",
                      max_attempts: int = 1) -> str:
    from engine.db import session_scope
    from engine.services.actor import Actor
    from engine.services.workflows import create_workflow

    with session_scope() as session:
        wf = create_workflow(session, Actor.system(workspace_id), {
            "name": f"test {action}", "trigger": {"type": "manual", "config": {}},
            "steps": [{"key": key, "action": action, "config": config, "retry": {"max_attempts": max_attempts}}],
        })
        return wf.id


def flowmate_cli(*args: str) -> Any:
    """Run the real `flowmate` command in a subprocess with the current environment (DB URL, keys)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], env=dict(os.environ), capture_output=True,
                          text=True, timeout=120, cwd=root)
