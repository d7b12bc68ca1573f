"""The Audit page's area filter follows the audit vocabulary (engine/audit_events.py)."""

from __future__ import annotations

from datetime import timedelta

from engine import audit_events
from engine.db import session_scope, utcnow
from engine.services.accounts import create_workspace
from engine.services.actor import Actor
from engine.services.audit import list_audit
from flowmate_app.features.audit.state import AREAS, area_options


def test_every_area_of_the_vocabulary_is_offered_once_with_a_label() -> None:
    offered = [value.removesuffix(".") for value in AREAS if value != "all"]
    assert offered == audit_events.AREAS  # same areas, same order, no hand-kept extras
    for area in ("account", "consent", "export", "retention", "session", "invitation"):
        assert AREAS[f"{area}."], area
    assert "governance" in AREAS["retention."].lower()
    assert area_options(["brand_new"]) == {"all": "Everything", "brand_new.": "Brand new"}  # unlabelled still shows


def test_a_new_area_filters_the_trail_to_its_rows(sqlite_db: str) -> None:
    from governance_support import insert_runs, make_workflow

    from engine.services import retention

    with session_scope() as session:
        ws = create_workspace(session, "Areas")
    actor = Actor.system(ws.id)
    insert_runs(ws.id, make_workflow(actor), 2, finished_at=utcnow() - timedelta(days=40))
    retention.run_retention_duty()
    with session_scope() as session:
        rows = list_audit(session, actor, action="retention.")
        everything = list_audit(session, actor)
    assert [_action(r) for r in rows["items"]] == ["retention.prune"]
    assert {"workspace.create", "retention.prune"} <= {_action(r) for r in everything["items"]}


def _action(row: object) -> str:
    return row["action"] if isinstance(row, dict) else row.action
