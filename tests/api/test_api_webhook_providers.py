"""Provider-signed webhook triggers, as Stripe, Shopify, Xero and a Standard Webhooks sender call them.

Signatures are computed here the way each provider documents it (hmac/base64 by hand; the
``standardwebhooks`` package for its scheme), not with the module under test. Every test runs on
SQLite and on PostgreSQL: deduplication rides on the run table's unique key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_helpers_hooks import run_row
from conftest import simple_workflow
from standardwebhooks.webhooks import Webhook

STRIPE_SECRET = "whsec_stripe_endpoint_s3cr3t"
SHOPIFY_SECRET = "shpss_0123456789abcdef"
XERO_KEY = "xero-webhook-key/8nKx+0="
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-secret-32bytes!").decode()


@pytest.fixture
def api(any_api: Any) -> Any:
    return any_api


def _hook(api: Any, auth_type: str, secret: str, events: list[str] | None = None) -> tuple[str, str]:
    config: dict[str, Any] = {"auth": {"type": auth_type, "secret": secret}}
    if events is not None:
        config["events"] = events
    wf = api.create_workflow(simple_workflow(trigger={"type": "webhook", "config": config}))
    return wf["webhook_path"], wf["id"]


def _runs(workflow_id: str) -> int:
    from sqlmodel import func, select

    from engine.db import session_scope
    from engine.models import Run

    with session_scope() as session:
        return session.exec(select(func.count()).select_from(Run).where(Run.workflow_id == workflow_id)).one()


def _stripe_header(body: bytes, ts: int | None = None, secret: str = STRIPE_SECRET) -> str:
    ts = int(time.time()) if ts is None else ts
    return f"t={ts},v1={hmac.new(secret.encode(), f'{ts}.'.encode() + body, hashlib.sha256).hexdigest()}"


def _stripe_event(event_type: str, event_id: str | None = None) -> bytes:
    return json.dumps({"id": event_id or f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": event_type,
                       "data": {"object": {"id": "in_1", "amount_due": 4200, "customer_email": "jo@bakery.au"}}},
                      separators=(",", ":")).encode()


def _shopify_headers(body: bytes, topic: str = "orders/create", webhook_id: str | None = None,
                     secret: str = SHOPIFY_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(
                hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode(),
            "X-Shopify-Shop-Domain": "bakery.myshopify.com", "X-Shopify-API-Version": "2025-01",
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat()}


def _xero_sig(body: bytes, key: str = XERO_KEY) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def test_stripe_valid_tampered_stale_and_missing(api) -> None:
    path, wf_id = _hook(api, "stripe", STRIPE_SECRET)
    body = _stripe_event("invoice.payment_failed")
    r = api.client.post(path, content=body, headers={"Stripe-Signature": _stripe_header(body),
                                                     "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    run = run_row(r.json()["run_id"])
    assert run.trigger_payload["body"]["type"] == "invoice.payment_failed"
    assert run.trigger_payload["delivery"]["type"] == "invoice.payment_failed"
    assert "stripe-signature" not in run.trigger_payload["headers"]

    tampered = body.replace(b"4200", b"1")
    r = api.client.post(path, content=tampered, headers={"Stripe-Signature": _stripe_header(body)})
    assert r.status_code == 401 and "signature" in r.json()["error"]["message"]
    stale = _stripe_event("invoice.payment_failed")
    old_ts = int(time.time()) - 900
    r = api.client.post(path, content=stale, headers={"Stripe-Signature": _stripe_header(stale, old_ts)})
    assert r.status_code == 401 and "tolerance" in r.json()["error"]["message"]
    r = api.client.post(path, content=stale)
    assert r.status_code == 401 and "missing Stripe-Signature" in r.json()["error"]["message"]
    r = api.client.post(path, content=stale, headers={"Stripe-Signature": _stripe_header(stale, secret="whsec_other")})
    assert r.status_code == 401
    assert _runs(wf_id) == 1


def test_stripe_redelivery_starts_no_second_run(api) -> None:
    path, wf_id = _hook(api, "stripe", STRIPE_SECRET)
    body = _stripe_event("checkout.session.completed", "evt_1PqRsTuVwXyZ")
    first = api.client.post(path, content=body, headers={"Stripe-Signature": _stripe_header(body)})
    assert first.status_code == 202
    # Stripe retries with the same event id and a fresh signature timestamp.
    later = int(time.time()) + 1
    again = api.client.post(path, content=body, headers={"Stripe-Signature": _stripe_header(body, later)})
    assert again.status_code == 200 and again.json()["run_id"] == first.json()["run_id"]
    assert _runs(wf_id) == 1


def test_stripe_event_filter_ignores_other_types(api) -> None:
    path, wf_id = _hook(api, "stripe", STRIPE_SECRET, events=["invoice.payment_failed", "checkout.session.*"])
    for event_type, started in (("invoice.payment_failed", True), ("checkout.session.completed", True),
                                ("customer.created", False), ("invoice.paid", False)):
        body = _stripe_event(event_type)
        r = api.client.post(path, content=body, headers={"Stripe-Signature": _stripe_header(body)})
        if started:
            assert r.status_code == 202, r.text
        else:
            assert r.status_code == 200 and r.json()["ignored"] is True
            assert event_type in r.json()["reason"]
    assert _runs(wf_id) == 2
    # A filtered event still needs a valid signature: the filter is no way around authentication.
    body = _stripe_event("customer.created")
    assert api.client.post(path, content=body, headers={"Stripe-Signature": "t=1,v1=00"}).status_code == 401


def test_shopify_signed_topic_filter_and_webhook_id_dedupe(api) -> None:
    path, wf_id = _hook(api, "shopify", SHOPIFY_SECRET, events=["orders/create"])
    body = json.dumps({"id": 820982911946154508, "email": "jon@example.com", "total_price": "41.50",
                       "line_items": [{"title": "Sourdough", "quantity": 2}]}).encode()
    headers = _shopify_headers(body, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    first = api.client.post(path, content=body, headers=headers)
    assert first.status_code == 202, first.text
    run = run_row(first.json()["run_id"])
    assert run.trigger_payload["delivery"]["topic"] == "orders/create"
    assert run.trigger_payload["body"]["total_price"] == "41.50"
    # Shopify retries with the same X-Shopify-Webhook-Id.
    again = api.client.post(path, content=body, headers=headers)
    assert again.status_code == 200 and again.json()["run_id"] == first.json()["run_id"]
    # Unsigned and tampered deliveries are refused with a JSON error.
    unsigned = {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}
    r = api.client.post(path, content=body, headers={**unsigned, "X-Shopify-Webhook-Id": "other-1"})
    assert r.status_code == 401 and "X-Shopify-Hmac-Sha256" in r.json()["error"]["message"]
    r = api.client.post(path, content=body.replace(b"41.50", b"0.01"), headers={**headers, "X-Shopify-Webhook-Id": "x"})
    assert r.status_code == 401
    # Another topic is acknowledged and ignored.
    other = _shopify_headers(body, topic="customers/update")
    r = api.client.post(path, content=body, headers=other)
    assert r.status_code == 200 and r.json()["ignored"] is True
    assert _runs(wf_id) == 1


def test_xero_intent_to_receive_and_event_category_filter(api) -> None:
    path, wf_id = _hook(api, "xero", XERO_KEY, events=["INVOICE"])
    # Intent to receive: the exact shape Xero sends, correctly and incorrectly signed.
    itr = json.dumps({"events": [], "lastEventSequence": 0, "firstEventSequence": 0,
                      "entropy": "S0m3r4Nd0mt3xt"}).encode()
    good = api.client.post(path, content=itr, headers={"x-xero-signature": _xero_sig(itr)})
    assert good.status_code == 200 and good.content == b""
    bad = api.client.post(path, content=itr, headers={"x-xero-signature": _xero_sig(itr, "wrong-key")})
    assert bad.status_code == 401 and bad.content == b""
    assert api.client.post(path, content=itr).status_code == 401
    assert "set-cookie" not in good.headers
    assert _runs(wf_id) == 0

    def event(category: str) -> dict[str, Any]:
        return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/{category.title()}s/{uuid.uuid4()}",
                "resourceId": str(uuid.uuid4()), "eventDateUtc": "2026-12-01T04:05:06.789",
                "eventType": "CREATE", "eventCategory": category, "tenantId": str(uuid.uuid4()),
                "tenantType": "ORGANISATION"}

    body = json.dumps({"events": [event("CONTACT"), event("INVOICE")], "firstEventSequence": 7,
                       "lastEventSequence": 8, "entropy": "QWERTYASDF"}).encode()
    r = api.client.post(path, content=body, headers={"x-xero-signature": _xero_sig(body)})
    assert r.status_code == 200 and r.content == b""
    assert _runs(wf_id) == 1
    again = api.client.post(path, content=body, headers={"x-xero-signature": _xero_sig(body)})
    assert again.status_code == 200 and _runs(wf_id) == 1  # Xero's retry of the same delivery
    contacts_only = json.dumps({"events": [event("CONTACT")], "firstEventSequence": 9, "lastEventSequence": 9,
                                "entropy": "ZXCVBNMLKJ"}).encode()
    r = api.client.post(path, content=contacts_only, headers={"x-xero-signature": _xero_sig(contacts_only)})
    assert r.status_code == 200 and r.content == b"" and _runs(wf_id) == 1

    from sqlmodel import select

    from engine.db import session_scope
    from engine.models import Run

    with session_scope() as session:
        run = session.exec(select(Run).where(Run.workflow_id == wf_id)).one()
        kept = run.trigger_payload["delivery"]["events"]
    assert [e["eventCategory"] for e in kept] == ["INVOICE"]


def test_standard_webhooks_valid_stale_and_redelivered(api) -> None:
    path, wf_id = _hook(api, "standard", STANDARD_SECRET, events=["user.*"])
    sender = Webhook(STANDARD_SECRET)
    body = json.dumps({"type": "user.created", "timestamp": "2026-12-01T00:00:00Z",
                       "data": {"email": "a@b.au"}}).encode()

    def headers(msg_id: str, at: datetime) -> dict[str, str]:
        return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": sender.sign(msg_id, at, body.decode()), "content-type": "application/json"}

    now = datetime.now(UTC)
    first = api.client.post(path, content=body, headers=headers("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now))
    assert first.status_code == 202, first.text
    again = api.client.post(path, content=body, headers=headers("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now))
    assert again.status_code == 200 and again.json()["run_id"] == first.json()["run_id"]
    old = api.client.post(path, content=body, headers=headers("msg_old", now - timedelta(minutes=10)))
    assert old.status_code == 401 and "timestamp" in old.json()["error"]["message"]
    tampered = api.client.post(path, content=body + b" ", headers=headers("msg_t", now))
    assert tampered.status_code == 401
    assert _runs(wf_id) == 1


def test_standard_secret_checked_and_no_secret_yet_refuses_every_delivery(api) -> None:
    auth = {"type": "standard", "secret": "not base64 !!"}
    r = api.post("/api/v1/workflows", simple_workflow(trigger={"type": "webhook", "config": {"auth": auth}}))
    assert r.status_code == 422, r.text
    assert "trigger.config.auth.secret" in r.json()["error"]["fields"]
    # Saved before the secret is known (as a template sets it up): every delivery is refused until it is set.
    wf = api.create_workflow(simple_workflow(trigger={"type": "webhook", "config": {"auth": {"type": "stripe"}}}))
    assert wf["trigger"]["secret_set"] is False
    body = _stripe_event("invoice.payment_failed")
    r = api.client.post(wf["webhook_path"], content=body, headers={"Stripe-Signature": _stripe_header(body)})
    assert r.status_code == 401 and "no signing secret" in r.json()["error"]["message"]
    assert _runs(wf["id"]) == 0
    r = api.post("/api/v1/workflows", simple_workflow(trigger={"type": "webhook", "config": {"events": ["x"]}}))
    assert r.status_code == 422 and "trigger.config.events" in r.json()["error"]["fields"]
    # The secret is write-only: the workflow shows only that one is set.
    auth = {"type": "shopify", "secret": SHOPIFY_SECRET}
    wf = api.create_workflow(simple_workflow(trigger={"type": "webhook", "config": {"auth": auth}}))
    shown = api.get(f"/api/v1/workflows/{wf['id']}").text
    assert SHOPIFY_SECRET not in shown
