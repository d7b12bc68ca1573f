"""Contacts service: normalised keys, CSV import/export, keywords, roles and field errors."""

from __future__ import annotations

import csv
import io

import pytest

from engine.db import session_scope
from engine.errors import Forbidden, NotFound, ValidationFailed
from engine.models import Role
from engine.services import contacts
from engine.services.actor import Actor


@pytest.mark.parametrize(("body", "keyword"), [
    ("STOP", "stop"), (" stop ", "stop"), ("Opt out", "stop"), ("opt-out", "stop"), ("UNSUBSCRIBE!", "stop"),
    ("Start", "start"), ("unstop", "start"), ("stop sending me stuff", None), ("Thanks!", None), ("", None)])
def test_keywords(body: str, keyword: str | None) -> None:
    assert contacts.keyword_of(body) == keyword


def test_contacts_are_keyed_by_normalised_email_and_phone(sqlite_db: str, workspace: dict) -> None:
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        a = contacts.upsert_contact(session, actor, email="Jo.Smith@Example.COM", name="Jo")
        b = contacts.upsert_contact(session, actor, email="jo.smith@example.com", phone="0412 345 678")
        assert a.id == b.id and b.phone == "+61412345678"
        c = contacts.upsert_contact(session, actor, phone="+61 412 345 678")
        assert c.id == a.id
        with pytest.raises(ValidationFailed) as bad:
            contacts.upsert_contact(session, actor, phone="12")
        assert "phone" in bad.value.fields
        with pytest.raises(ValidationFailed) as bad:
            contacts.set_consent(session, actor, a.id, "email", "granted", source="")
        assert "source" in bad.value.fields
        with pytest.raises(ValidationFailed):
            contacts.set_consent(session, actor, a.id, "fax", "granted", source="x")
    viewer = Actor(workspace_id=workspace["id"], role=Role.viewer, label="user:v@example.com")
    with pytest.raises(Forbidden), session_scope() as session:
        contacts.upsert_contact(session, viewer, email="x@example.com")
    with pytest.raises(NotFound), session_scope() as session:
        contacts.get_contact(session, Actor.system("another-workspace"), a.id)


def test_csv_import_reports_bad_lines_and_export_round_trips(sqlite_db: str, workspace: dict) -> None:
    actor = Actor.system(workspace["id"])
    text = ("email,phone,name,email_consent,sms_consent,consent_source,consent_wording\n"
            "ana@example.com,0412 000 111,Ana,granted,,paper form,Email me offers\n"
            "not-an-email,,Bad,,,,\n"
            "bo@example.com,,Bo,,withdrawn,,\n"
            "ANA@example.com,,Ana Again,,,,\n")
    with session_scope() as session:
        result = contacts.import_csv(session, actor, text)
    assert (result["created"], result["updated"], result["consents"]) == (1, 1, 1)
    # line 3: bad email; line 4: SMS consent for a contact without a phone (the whole row is left out)
    assert [e["line"] for e in result["errors"]] == [3, 4] and "phone" in result["errors"][1]["error"]
    assert contacts.marketing_refusal(workspace["id"], "email", "ana@example.com") is None
    with session_scope() as session:
        rows = list(csv.DictReader(io.StringIO(contacts.export_csv(session, actor))))
    assert {r["email"]: r["email_consent"] for r in rows} == {"ana@example.com": "granted"}
    assert rows[0]["name"] == "Ana Again"  # the later row updated the name
    assert rows[0]["phone"] == "+61412000111"
    with pytest.raises(ValidationFailed) as bad, session_scope() as session:
        contacts.import_csv(session, actor, "name\nJo\n")
    assert "file" in bad.value.fields


def test_unsubscribe_tokens_cannot_be_forged(sqlite_db: str, workspace: dict) -> None:
    token = contacts.unsubscribe_token(workspace["id"], "mia@example.com")
    assert "mia" not in token
    with pytest.raises(NotFound):
        contacts.read_unsubscribe_token(token[:-4] + "abcd")
    with pytest.raises(NotFound):
        contacts.read_unsubscribe_token("not a token ✓")
    with session_scope() as session:
        contacts.unsubscribe(session, token)
        contacts.unsubscribe(session, token)  # twice is fine
    assert "suppression list" in contacts.marketing_refusal(workspace["id"], "email", "mia@example.com")
