"""`flowmate seed`: idempotent starter data so a fresh `make run` has something to show.

Creates a "Demo" workspace with a sample workflow when no workspace exists yet. Sign-up in the
web app creates real workspaces; the demo one is only a convenience for local use.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from engine.db import session_scope
from engine.models import Workspace

SAMPLE_WORKFLOW = {
    "name": "Log new leads",
    "description": "Sample: records every lead posted to the webhook.",
    "trigger": {"type": "webhook", "config": {}},
    "steps": [
        {"key": "record", "action": "core.log",
         "config": {"message": "New lead {{ trigger.body.email | default('unknown') }}"}},
    ],
}


def seed() -> dict[str, Any]:
    from engine.catalog import check_catalog
    from engine.services.accounts import create_workspace
    from engine.services.actor import Actor
    from engine.services.workflows import create_workflow

    # The gallery is code: "loading" it means proving every template renders to a valid definition.
    templates = check_catalog()
    with session_scope() as session:
        if session.exec(select(Workspace.id)).first():
            return {"seeded": False, "reason": "workspaces already exist", "templates": templates}
        ws = create_workspace(session, "Demo", "demo")
        create_workflow(session, Actor.system(ws.id, "seed"), SAMPLE_WORKFLOW)
        return {"seeded": True, "workspace": ws.slug, "templates": templates}
