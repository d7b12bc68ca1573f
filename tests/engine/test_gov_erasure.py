"""Erasing a data subject: every format of a phone number and an email, nothing else changes."""

from __future__ import annotations

import copy

import pytest
from governance_support import insert_runs, make_workflow
from sqlmodel import select

from engine.db import session_scope
from engine.errors import ValidationFailed
from engine.models import AuditLog, Run, StepRun
from engine.services.actor import Actor
from engine.services.erasure import ERASED, erase_subject, find_subject, parse_subject

PHONES = ["0412 345 678", "+61 412 345 678", "(04) 1234 5678"]


def test_parse_subject_normalises_and_refuses_garbage() -> None:
    assert {parse_subject(p).value for p in [*PHONES, "0412-345-678", "61412345678"]} == {"+61412345678"}
    assert parse_subject(" Jo@Example.COM ").value == "jo@example.com"
    for bad in ("", "hello", "jo@", "12"):
        with pytest.raises(ValidationFailed):
            parse_subject(bad)


def test_email_and_phone_in_three_formats_across_20_runs_are_erased(any_db: str, workspace: dict) -> None:
    actor = Actor.system(workspace["id"])
    wf = make_workflow(actor)
    ids = []
    for i in range(20):
        phone = PHONES[i % 3]
        payload = {"body": {"email": "Jo@Example.com" if i % 2 else "jo@example.com", "name": "Jo",
                            "phone": phone, "note": f"call Jo on {phone} or mail jo@example.com", "order": 1000 + i},
                   "headers": {"x-other": "ann@example.com 0498 765 432"}}
        ids += insert_runs(workspace["id"], wf, 1, payload=payload,
                           step_input={"to": phone, "cc": ["ann@example.com", "jo@example.com"]},
                           step_output={"sent_to": "jo@example.com", "id": f"msg-{i}"}, steps_per_run=1)
    untouched = insert_runs(workspace["id"], wf, 5, payload={"email": "ann@example.com", "phone": "0498 765 432"})
    with session_scope() as session:
        before = {r.id: copy.deepcopy(r.trigger_payload) for r in session.exec(select(Run)).all()}

    assert find_subject(actor, "jo@example.com") == {"kind": "email", "runs": 20, "values": 20 * 4}
    assert find_subject(actor, "0412 345 678") == {"kind": "phone", "runs": 20, "values": 20 * 3}
    with session_scope() as session:  # counting changed nothing
        assert {r.id: r.trigger_payload for r in session.exec(select(Run)).all()} == before

    assert erase_subject(actor, "JO@example.com")["runs"] == 20
    assert erase_subject(actor, "+61412345678") == {"kind": "phone", "runs": 20, "values": 60}
    with session_scope() as session:
        for run in session.exec(select(Run).where(Run.id.in_(ids))).all():
            body = run.trigger_payload["body"]
            assert body == {"email": ERASED, "name": "Jo", "phone": ERASED,
                            "note": f"call Jo on {ERASED} or mail {ERASED}", "order": before[run.id]["body"]["order"]}
            assert run.trigger_payload["headers"] == {"x-other": "ann@example.com 0498 765 432"}
        for step in session.exec(select(StepRun).where(StepRun.run_id.in_(ids))).all():
            assert step.input == {"to": ERASED, "cc": ["ann@example.com", ERASED]}
            assert step.output["sent_to"] == ERASED and step.output["id"].startswith("msg-")
        for run in session.exec(select(Run).where(Run.id.in_(untouched))).all():
            assert run.trigger_payload == before[run.id]
        rows = session.exec(select(AuditLog).where(AuditLog.action == "subject.erase")).all()
    assert sorted((r.changes["kind"], r.changes["runs"], r.changes["values"]) for r in rows) == [
        ("email", 20, 80), ("phone", 20, 60)]
    text = " ".join(f"{r.actor} {r.object_id} {r.changes}" for r in rows)
    assert "jo@" not in text.lower() and "412345678" not in text and "412 345 678" not in text
    assert find_subject(actor, "jo@example.com")["runs"] == 0 and find_subject(actor, "0412345678")["runs"] == 0


def test_erasure_stays_in_its_workspace(sqlite_db: str) -> None:
    from engine.services.accounts import create_workspace

    with session_scope() as session:
        a, b = create_workspace(session, "A").id, create_workspace(session, "B").id
    insert_runs(b, make_workflow(Actor.system(b)), 2, payload={"email": "jo@example.com"})
    assert erase_subject(Actor.system(a), "jo@example.com")["runs"] == 0
    assert find_subject(Actor.system(b), "jo@example.com")["runs"] == 2


def test_approval_messages_comments_and_resume_bodies_are_erased(any_db: str, workspace: dict) -> None:
    """Flow control keeps people's words beside the run: an approval's message and comment, and
    the JSON POSTed to a resume URL. Erasure reaches them too; other people's stay."""
    from engine.models import Approval, WaitToken

    actor = Actor.system(workspace["id"])
    (run_id,) = insert_runs(workspace["id"], make_workflow(actor), 1, payload={"n": 1})
    with session_scope() as session:
        session.add(Approval(workspace_id=workspace["id"], run_id=run_id, step_path="ok",
                             message="Approve the order of jo@example.com?", comment="rang 0412 345 678, fine"))
        session.add(WaitToken(token_hash="a" * 64, run_id=run_id, step_path="wait", status="resumed",
                              result={"accepted_by": "Jo@Example.com", "cc": "ann@example.com"}))
    assert find_subject(actor, "jo@example.com") == {"kind": "email", "runs": 1, "values": 2}
    erase_subject(actor, "jo@example.com")
    erase_subject(actor, "0412345678")
    with session_scope() as session:
        approval = session.exec(select(Approval)).one()
        wait = session.exec(select(WaitToken)).one()
        assert approval.message == f"Approve the order of {ERASED}?"
        assert approval.comment == f"rang {ERASED}, fine"
        assert wait.result == {"accepted_by": ERASED, "cc": "ann@example.com"}


def test_erasure_reads_every_table_attached_to_a_run() -> None:
    """A table added to RUN_ATTACHED_TABLES (rows that belong to a run) must say which of its
    columns erasure redacts, or people's words in it would survive an erasure."""
    from engine.models import RUN_ATTACHED_TABLES
    from engine.services.erasure import HANGING

    assert {table.name for table, _, _ in HANGING} == {table.name for table in RUN_ATTACHED_TABLES}
