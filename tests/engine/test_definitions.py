"""Invalid workflow definitions are refused with field-level errors and leave no rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.db import session_scope
from engine.errors import ValidationFailed
from engine.models import AuditLog, Step, Trigger, Workflow
from engine.services.actor import Actor
from engine.services.workflows import create_workflow, export_definition, update_workflow

GOOD = {"name": "Lead", "trigger": {"type": "webhook", "config": {}},
        "steps": [{"key": "log", "action": "core.log", "config": {"message": "{{ trigger.body.email }}"}}]}

CASES = [
    ({**GOOD, "steps": [{"key": "Bad-Key", "action": "core.log", "config": {"message": "x"}}]}, "steps.0.key"),
    ({**GOOD, "steps": [{"key": "a", "action": "core.log", "config": {"message": "x"}},
                        {"key": "a", "action": "core.log", "config": {"message": "y"}}]}, "steps.1.key"),
    ({**GOOD, "steps": [{"key": "a", "action": "email.sendd", "config": {}}]}, "steps.0.action"),
    ({**GOOD, "steps": [{"key": "a", "action": "core.log", "config": {"message": "Hi {{ trigger.body.name }"}}]},
     "steps.0.config.message"),
    ({**GOOD, "steps": [{"key": "a", "action": "core.log", "config": {}}]}, "steps.0.config.message"),
    ({**GOOD, "steps": [{"key": "a", "action": "http.request", "config": {"url": "https://x.test", "timeout_s": -1}}]},
     "steps.0.config.timeout_s"),
    ({**GOOD, "trigger": {"type": "cron", "config": {"expression": "61 * * * *"}}}, "trigger.config.expression"),
    ({**GOOD, "trigger": {"type": "carrier-pigeon"}}, "trigger.type"),
    ({**GOOD, "name": "   "}, "name"),
    ({**GOOD, "timezone": "Mars/Olympus"}, "timezone"),
    ({**GOOD, "steps": [{"key": "a", "action": "core.log", "config": {"message": "x"},
                         "retry": {"max_attempts": 0}}]}, "steps.0.retry.max_attempts"),
    ({**GOOD, "trigger": {"type": "webhook", "config": {"auth": {"type": "hmac"}}}}, "trigger.config.auth.secret"),
]


def _counts() -> tuple[int, int, int, int]:
    with session_scope() as session:
        return tuple(session.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (Workflow, Step, Trigger, AuditLog))  # type: ignore[return-value]


@pytest.mark.parametrize(("definition", "field"), CASES, ids=[c[1] for c in CASES])
def test_invalid_definition_names_the_field_and_writes_nothing(sqlite_db: str, workspace: dict, definition: dict,
                                                                field: str) -> None:
    before = _counts()
    with pytest.raises(ValidationFailed) as info, session_scope() as session:
        create_workflow(session, Actor.system(workspace["id"]), definition)
    assert field in info.value.fields, info.value.fields
    assert info.value.fields[field]  # a human message, not empty
    assert _counts() == before


def test_expression_in_typed_field_is_checked_after_rendering(sqlite_db: str, workspace: dict) -> None:
    definition = {**GOOD, "steps": [{"key": "a", "action": "http.request",
                                     "config": {"url": "{{ trigger.body.url }}", "timeout_s": "{{ trigger.body.t }}"}}]}
    with session_scope() as session:
        wf = create_workflow(session, Actor.system(workspace["id"]), definition)
    assert wf.id


def test_update_bumps_version_and_export_round_trips(any_db: str, workspace: dict) -> None:
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        wf = create_workflow(session, actor, GOOD)
        exported = export_definition(session, actor, wf.id)
    assert exported["steps"][0]["key"] == "log" and exported["trigger"]["type"] == "webhook"
    changed = {**exported, "name": "Lead v2"}
    with session_scope() as session:
        wf2 = update_workflow(session, actor, wf.id, changed)
        assert wf2.version == 2 and wf2.name == "Lead v2"
    with pytest.raises(ValidationFailed) as info, session_scope() as session:
        update_workflow(session, actor, wf.id, changed, expected_version=1)
    assert "version" in info.value.fields


def test_other_workspace_cannot_see_the_workflow(sqlite_db: str, workspace: dict) -> None:
    from engine.errors import NotFound
    from engine.services.accounts import create_workspace

    with session_scope() as session:
        wf = create_workflow(session, Actor.system(workspace["id"]), GOOD)
        other = create_workspace(session, "Other")
    with pytest.raises(NotFound), session_scope() as session:
        export_definition(session, Actor.system(other.id), wf.id)


def test_webhook_secret_is_stored_encrypted_and_never_exported(sqlite_db: str, workspace: dict) -> None:
    definition = {**GOOD, "trigger": {"type": "webhook",
                                      "config": {"auth": {"type": "hmac", "secret": "s3cret-signing-key"}}}}
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        wf = create_workflow(session, actor, definition)
        exported = export_definition(session, actor, wf.id)
        stored = session.exec(select(Trigger).where(Trigger.workflow_id == wf.id)).first()[0]
    assert "s3cret-signing-key" not in str(exported)
    assert stored.secret_encrypted and "s3cret" not in stored.secret_encrypted
    db_path = sqlite_db.removeprefix("sqlite:///")
    for suffix in ("", "-wal"):
        path = Path(db_path + suffix)
        if path.exists():
            assert b"s3cret-signing-key" not in path.read_bytes()
