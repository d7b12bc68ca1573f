"""Xero actions against the local Xero (OAuth + Accounting API shapes), through the real executor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_oauth import TENANT_A, FakeOAuth, oauth_env, running
from integ_helpers import run_now
from oauth_helpers import SignedIn, connect, signed_in_client


@pytest.fixture
def xero(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeOAuth, SignedIn]]:
    with running(FakeOAuth()) as server:
        oauth_env(monkeypatch, server)
        who = signed_in_client()
        assert connect(who, server).status_code == 303
        yield server, who


def _workflow(workspace_id: str, steps: list[dict[str, Any]]) -> str:
    from engine.db import session_scope
    from engine.services.actor import Actor
    from engine.services.workflows import create_workflow

    with session_scope() as session:
        return create_workflow(session, Actor.system(workspace_id), {
            "name": "Order → Xero", "trigger": {"type": "manual", "config": {}}, "steps": steps}).id


LINES = [
    {"description": "Catering platter", "quantity": 2, "unit_amount": 60, "account_code": "200",
     "tax_type": "OUTPUT"},
    {"description": "Delivery (GST-free)", "quantity": 1, "unit_amount": "{{ trigger.delivery }}",
     "account_code": "200", "tax_type": "EXEMPTOUTPUT"},
]


def test_contact_upsert_then_invoice_with_two_gst_lines_then_payment(xero: tuple[FakeOAuth, SignedIn]) -> None:
    server, who = xero
    wf = _workflow(who.workspace_id, [
        {"key": "contact", "action": "xero.upsert_contact",
         "config": {"connection": "xero", "name": "{{ trigger.company }}", "email": "{{ trigger.email }}",
                    "first_name": "Mia", "phone": "0412 345 678", "tax_number": "53 004 085 616"}},
        {"key": "invoice", "action": "xero.create_invoice",
         "config": {"connection": "xero", "contact_id": "{{ steps.contact.output.contact_id }}",
                    "line_items": LINES, "status": "AUTHORISED", "date": "2026-12-01", "due_date": "2026-12-15",
                    "reference": "{{ trigger.order }}", "email_to_customer": True}},
        {"key": "paid", "action": "xero.record_payment",
         "config": {"connection": "xero", "invoice_id": "{{ steps.invoice.output.invoice_id }}",
                    "account_code": "090", "amount": "{{ steps.invoice.output.total }}", "date": "2026-12-02",
                    "reference": "Stripe pi_123"}},
    ])
    payload = {"company": "Nguyen Cafe", "email": "mia@nguyencafe.example", "order": "ORD-1001", "delivery": 15}
    run = run_now(wf, who.workspace_id, "manual", payload)
    assert run["status"] == "succeeded", run
    assert not any(token in str(run) for token in [*server.access, *server.refresh])  # never in run data
    contact, invoice, paid = (s["output"] for s in run["steps"])
    from engine.actions._samples import SAMPLE_OUTPUTS

    for name, output in (("xero.upsert_contact", contact), ("xero.create_invoice", invoice),
                         ("xero.record_payment", paid)):
        assert set(SAMPLE_OUTPUTS[name]) == set(output), name
    assert contact["action"] == "created" and contact["name"] == "Nguyen Cafe"
    assert invoice["sub_total"] == 135.0 and invoice["total_tax"] == 12.0 and invoice["total"] == 147.0
    assert invoice["status"] == "AUTHORISED" and invoice["emailed"] is True
    assert paid["amount"] == 147.0 and server.invoices[invoice["invoice_id"]]["Status"] == "PAID"

    put = next(r for r in server.to("/api.xro/2.0/Invoices") if r.method == "PUT")
    assert put.headers["xero-tenant-id"] == TENANT_A and put.headers["authorization"].startswith("Bearer acc-")
    assert put.headers["idempotency-key"] == f"{run['id']}:invoice"
    sent = put.json["Invoices"][0]
    assert sent["Contact"] == {"ContactID": contact["contact_id"]} and sent["LineAmountTypes"] == "Exclusive"
    assert [(li["TaxType"], li["AccountCode"], li["UnitAmount"]) for li in sent["LineItems"]] == [
        ("OUTPUT", "200", 60.0), ("EXEMPTOUTPUT", "200", 15.0)]
    assert sent["DueDate"] == "2026-12-15" and sent["Reference"] == "ORD-1001"
    created = server.to("/api.xro/2.0/Contacts")[-1].json["Contacts"][0]
    assert created == {"Name": "Nguyen Cafe", "EmailAddress": "mia@nguyencafe.example", "FirstName": "Mia",
                       "TaxNumber": "53 004 085 616", "Phones": [{"PhoneType": "DEFAULT",
                                                                   "PhoneNumber": "0412 345 678"}]}

    # The same person again (found by email): the contact is updated, not duplicated.
    again = run_now(_workflow(who.workspace_id, [{"key": "contact", "action": "xero.upsert_contact", "config": {
        "connection": "xero", "name": "Nguyen Cafe", "email": "MIA@nguyencafe.example", "last_name": "Nguyen"}}]),
        who.workspace_id, "manual", {})
    assert again["steps"][0]["output"]["action"] == "updated" and len(server.contacts) == 1
    assert server.contacts[contact["contact_id"]]["LastName"] == "Nguyen"
    search = server.to("/api.xro/2.0/Contacts")[-2]
    assert search.q("where") == 'EmailAddress=="MIA@nguyencafe.example"'


def test_validation_errors_are_permanent_with_xeros_message(xero: tuple[FakeOAuth, SignedIn]) -> None:
    server, who = xero
    cid = "feedface"
    server.contacts[cid] = {"ContactID": cid, "Name": "Jo"}
    wf = _workflow(who.workspace_id, [{"key": "invoice", "action": "xero.create_invoice", "retry": {"max_attempts": 3},
                                       "config": {"connection": "xero", "contact_id": cid, "line_items": [
                                           {"description": "Cake", "unit_amount": 40, "tax_type": "OUTPUT2"}]}}])
    run = run_now(wf, who.workspace_id, "manual", {})
    step = run["steps"][0]
    assert run["status"] == "failed" and step["attempts"] == 1
    assert "The TaxType code 'OUTPUT2' does not exist" in step["error"]


def test_email_needs_an_authorised_invoice() -> None:
    from pydantic import ValidationError

    from engine.actions.xero_create_invoice import Config

    with pytest.raises(ValidationError, match="needs status AUTHORISED"):
        Config(connection="xero", contact_id="c", line_items=[{"description": "x", "unit_amount": 1}],
               email_to_customer=True)


def test_429_retry_after_is_honoured_instead_of_backoff(xero: tuple[FakeOAuth, SignedIn]) -> None:
    from engine.db import session_scope
    from engine.executor import Executor
    from engine.models import Run, StepRun
    from engine.services.runs import create_run

    server, who = xero
    server.rate_limit_next.append(7)
    wf = _workflow(who.workspace_id, [{"key": "find", "action": "xero.find_contact",
                                       "retry": {"max_attempts": 3, "initial_delay_s": 1, "factor": 2},
                                       "config": {"connection": "xero", "name": "Jo"}}])
    run, _ = create_run(wf, workspace_id=who.workspace_id, trigger_type="manual", payload={}, enqueue=False)
    outcome = Executor().execute(run.id)
    assert outcome.status == "waiting" and outcome.requeue_in == 7.0  # Xero's time, not 1 s ± jitter
    with session_scope() as session:
        step = session.exec(__import__("sqlmodel").select(StepRun).where(StepRun.run_id == run.id)).one()
        assert step.retry_delays == [7.0] and "Xero minute limit reached" in step.error
        parked = session.get(Run, run.id)
        assert parked.status == "waiting"
        # Due exactly when Xero said (give or take the test's own run time).
        from engine.db import as_aware

        wait = (as_aware(parked.next_attempt_at) - as_aware(step.finished_at or step.started_at)).total_seconds()
        assert 6.0 <= wait <= 8.0


def test_retry_after_parsing() -> None:
    import httpx

    from engine.actions._provider import retry_after_seconds

    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "12"})) == 12.0
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after_seconds(httpx.Response(429)) is None
    assert retry_after_seconds(httpx.Response(500, headers={"Retry-After": "5"})) is None
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "999999"})) == 86400.0
