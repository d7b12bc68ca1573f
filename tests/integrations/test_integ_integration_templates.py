"""The integration templates end to end, as a shop would use them, against the local providers.

Each template is created from the gallery with its defaults, its signing secret is pasted into
the trigger (as the builder does), and the provider's own delivery — signed the provider's way —
goes through the real webhook intake; the run then reaches the local Xero / Google Sheets /
Mailchimp / Twilio / SMTP servers. The Sheets → Mailchimp template polls instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fake_oauth import FakeOAuth, oauth_env, running
from fake_providers import FakeProviders, MailSink
from fake_saas import MAILCHIMP_KEY, FakeSaaS
from integ_helpers import connection_specs, create_connections
from oauth_helpers import SignedIn, connect, signed_in_client

SHEET = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
STRIPE_SECRET = "whsec_template_e2e_S3CR3T"
SHOPIFY_SECRET = "shpss_template_e2e_S3CR3T"


@pytest.fixture
def shop(any_db: str, monkeypatch: pytest.MonkeyPatch, providers: FakeProviders,
         smtp_server: tuple[MailSink, int]) -> Iterator[dict[str, Any]]:
    """A workspace connected to Xero and Google (OAuth), Mailchimp, Twilio and SMTP (local servers)."""
    with running(FakeOAuth()) as oauth, running(FakeSaaS()) as saas:
        oauth_env(monkeypatch, oauth)
        oauth_env(monkeypatch, oauth, "GOOGLE_SHEETS")
        who = signed_in_client()
        assert connect(who, oauth).status_code == 303
        assert connect(who, oauth, name="google", type_="google_sheets").status_code == 303
        specs = [s for s in connection_specs(providers, smtp_server[1]) if s["name"] in ("smtp", "sms")]
        create_connections(who.workspace_id, [*specs, {"type": "mailchimp", "name": "mailchimp",
                                                       "config": {"base_url": saas.url},
                                                       "secret": {"api_key": MAILCHIMP_KEY}}])
        yield {"who": who, "oauth": oauth, "saas": saas, "providers": providers, "smtp": smtp_server[0]}
        from engine.services.usage import flush_usage

        flush_usage()  # the runs' usage belongs to this database, as a worker's shutdown would write it


def _from_template(who: SignedIn, slug: str, variables: dict[str, Any] | None = None,
                   secret: str | None = None) -> tuple[str, str | None]:
    """Create the workflow from the gallery; paste the signing secret into its trigger. (id, hook path)"""
    from sqlmodel import select

    from engine.catalog import instantiate
    from engine.db import session_scope
    from engine.models import Trigger
    from engine.services.actor import Actor
    from engine.services.workflows import export_definition, update_workflow

    actor = Actor.system(who.workspace_id)
    with session_scope() as session:
        wf_id = instantiate(session, actor, slug, variables).id
    if secret:
        with session_scope() as session:
            definition = export_definition(session, actor, wf_id)
            definition["trigger"]["config"]["auth"]["secret"] = secret
            update_workflow(session, actor, wf_id, definition)
    with session_scope() as session:
        token = session.exec(select(Trigger.webhook_token).where(Trigger.workflow_id == wf_id)).one()
    return wf_id, f"/hooks/{token}" if token else None


def _execute(run_id: str) -> dict[str, Any]:
    from engine.db import session_scope
    from engine.executor import Executor
    from engine.models import Run
    from engine.services.runs import run_public

    Executor().execute(run_id)
    with session_scope() as session:
        return run_public(session, session.get(Run, run_id))


def _run_ids(workflow_id: str) -> list[str]:
    from sqlmodel import select

    from engine.db import session_scope
    from engine.models import Run

    with session_scope() as session:
        return list(session.exec(select(Run.id).where(Run.workflow_id == workflow_id)).all())


def _assert_secret_never_shown(who: SignedIn, workflow_id: str, run: dict[str, Any], secret: str) -> None:
    """The signing secret is write-only: not in the workflow's API shape, its export, the run, or in clear
    in the database."""
    from sqlalchemy import text

    from engine.db import get_engine

    shown = who.client.get(f"/api/v1/workflows/{workflow_id}").text
    assert '"secret_set":true' in shown.replace(" ", "")
    exported = who.client.get(f"/api/v1/workflows/{workflow_id}/export").text
    assert secret not in shown and secret not in exported and secret not in json.dumps(run)
    with get_engine().connect() as conn:
        stored = conn.execute(text("SELECT config, secret_encrypted FROM trigger")).all()
    assert secret not in str(stored)


def test_stripe_payment_to_xero_invoice_payment_and_receipt(shop: dict[str, Any]) -> None:
    who, oauth, smtp = shop["who"], shop["oauth"], shop["smtp"]
    wf_id, path = _from_template(who, "stripe-payment-to-xero", secret=STRIPE_SECRET)
    event = {"id": "evt_1PqRsTuVwXyZ", "object": "event", "type": "checkout.session.completed", "data": {"object": {
        "id": "cs_test_a1B2c3", "object": "checkout.session", "amount_total": 4950, "currency": "aud",
        "payment_intent": "pi_3PqRsT", "customer_details": {"name": "Mia Nguyen", "email": "mia@nguyencafe.example"}}}}
    body = json.dumps(event, separators=(",", ":")).encode()

    def signed(at: int) -> dict[str, str]:
        sig = hmac.new(STRIPE_SECRET.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
        return {"Stripe-Signature": f"t={at},v1={sig}", "Content-Type": "application/json"}

    assert who.client.post(path, content=body).status_code == 401  # unsigned: refused, no run
    first = who.client.post(path, content=body, headers=signed(int(time.time())))
    assert first.status_code == 202, first.text
    again = who.client.post(path, content=body, headers=signed(int(time.time()) + 2))  # Stripe's retry
    assert again.status_code == 200 and again.json()["run_id"] == first.json()["run_id"]
    other = json.dumps({**event, "id": "evt_other", "type": "customer.created"}).encode()
    sig = hmac.new(STRIPE_SECRET.encode(), f"{int(time.time())}.".encode() + other, hashlib.sha256).hexdigest()
    ignored = who.client.post(path, content=other, headers={"Stripe-Signature": f"t={int(time.time())},v1={sig}"})
    assert ignored.status_code == 200 and ignored.json()["ignored"] is True
    assert _run_ids(wf_id) == [first.json()["run_id"]]

    run = _execute(first.json()["run_id"])
    assert run["status"] == "succeeded", json.dumps(run, indent=1)
    (contact,) = oauth.contacts.values()
    assert contact["Name"] == "Mia Nguyen" and contact["EmailAddress"] == "mia@nguyencafe.example"
    (invoice,) = oauth.invoices.values()
    assert invoice["Status"] == "AUTHORISED" and invoice["LineAmountTypes"] == "Inclusive"
    assert invoice["Reference"] == "Stripe cs_test_a1B2c3" and invoice["CurrencyCode"] == "AUD"
    (line,) = invoice["LineItems"]
    assert float(line["UnitAmount"]) == 49.5 and line["TaxType"] == "OUTPUT" and line["AccountCode"] == "200"
    (payment,) = oauth.payments
    assert payment["Invoice"]["InvoiceID"] == invoice["InvoiceID"] and payment["Account"]["Code"] == "090"
    assert float(payment["Amount"]) == 49.5
    _assert_secret_never_shown(who, wf_id, run, STRIPE_SECRET)
    (mail,) = smtp.messages
    assert mail.message["To"] == "mia@nguyencafe.example"
    assert invoice["InvoiceNumber"] in mail.message["Subject"]
    assert "$49.50" in mail.message.get_body(("plain",)).get_content()


def test_shopify_order_to_sheet_row_and_sms(shop: dict[str, Any]) -> None:
    who, oauth, providers = shop["who"], shop["oauth"], shop["providers"]
    oauth.sheets[SHEET] = {"Orders": [["Order", "Date", "Customer", "Email", "Total"]]}
    wf_id, path = _from_template(who, "shopify-order-to-sheet", {"spreadsheet_id": SHEET}, secret=SHOPIFY_SECRET)
    order = {"id": 820982911946154508, "name": "#1042", "created_at": "2026-12-01T10:15:00+11:00",
             "email": "chloe@example.com", "total_price": "49.90", "currency": "AUD",
             "customer": {"first_name": "Chloe", "last_name": "Park", "phone": "+61 412 000 111"}}
    body = json.dumps(order).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
               "X-Shopify-Shop-Domain": "bondi-candles.myshopify.com", "X-Shopify-Webhook-Id": str(uuid.uuid4()),
               "X-Shopify-Hmac-Sha256": base64.b64encode(
                   hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()}
    accepted = who.client.post(path, content=body, headers=headers)
    assert accepted.status_code == 202, accepted.text
    assert who.client.post(path, content=body, headers=headers).json()["run_id"] == accepted.json()["run_id"]
    tampered = who.client.post(path, content=body.replace(b"49.90", b"0.01"),
                               headers={**headers, "X-Shopify-Webhook-Id": str(uuid.uuid4())})
    assert tampered.status_code == 401

    run = _execute(accepted.json()["run_id"])
    assert run["status"] == "succeeded", json.dumps(run, indent=1)
    assert oauth.sheets[SHEET]["Orders"][1] == ["#1042", "2026-12-01", "Chloe Park", "chloe@example.com", "49.90"]
    (sms,) = [r for r in providers.to("/2010-04-01/") if r.method == "POST"]
    assert sms.form["To"] == "+61412000111" and "#1042" in sms.form["Body"]
    assert _run_ids(wf_id) == [accepted.json()["run_id"]]
    _assert_secret_never_shown(who, wf_id, run, SHOPIFY_SECRET)


def test_new_sheet_row_to_mailchimp_member(shop: dict[str, Any]) -> None:
    from engine.actions.mailchimp_upsert_member import subscriber_hash
    from engine.db import utcnow
    from engine.scheduler import tick

    who, oauth, saas = shop["who"], shop["oauth"], shop["saas"]
    oauth.sheets[SHEET] = {"Sign-ups": [["Email", "First name", "Last name"], ["old@example.com", "Old", "Row"]]}
    wf_id, path = _from_template(who, "sheet-row-to-mailchimp", {"spreadsheet_id": SHEET})
    assert path is None
    t0 = utcnow() + timedelta(seconds=1)
    assert tick(t0) == 0  # the row already there is the starting point
    oauth.sheets[SHEET]["Sign-ups"].append(["ava@example.com", "Ava", "Brown"])
    assert tick(t0 + timedelta(minutes=5)) == 1
    (run_id,) = _run_ids(wf_id)
    run = _execute(run_id)
    assert run["status"] == "succeeded", json.dumps(run, indent=1)
    member = saas.members[subscriber_hash("ava@example.com")]
    assert member["status"] == "pending"  # double opt-in: Mailchimp asks Ava to confirm
    assert member["merge_fields"] == {"FNAME": "Ava", "LNAME": "Brown"} and member["tags"] == ["sheet-signup"]
    assert subscriber_hash("old@example.com") not in saas.members
