"""Marketing messages follow consent: skipped with a reason, one-click unsubscribe, STOP replies.

Real pieces: aiosmtpd receives the mail, local servers speak Twilio's and ClickSend's REST shape,
the inbound webhooks are called through the real API app, and Twilio's signature is computed by
Twilio's own library (``twilio.request_validator``), not by our code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from fake_providers import CLICKSEND_KEY, CLICKSEND_USER, TWILIO_SID, TWILIO_TOKEN
from integ_helpers import create_connections, one_step_workflow, run_now
from twilio.request_validator import RequestValidator

from engine.config import get_settings
from engine.db import session_scope
from engine.models import AuditLog
from engine.services import contacts
from engine.services.actor import Actor

OFFER = {"connection": "smtp", "to": "{{ trigger.payload.email }}", "subject": "Winter special",
         "text": "20% off this week. Unsubscribe: {{ unsubscribe_url }}",
         "html": "<p>20% off this week.</p>", "purpose": "marketing"}
WORDING = "Yes, email me offers. I can unsubscribe at any time."


@pytest.fixture
def api() -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from flowmate_app.api import build_api

    with TestClient(build_api(), raise_server_exceptions=False) as client:
        yield client


def _step(run: dict[str, Any], key: str = "step") -> dict[str, Any]:
    return next(s for s in run["steps"] if s["key"] == key)


def test_marketing_email_needs_consent_and_one_click_unsubscribe_stops_it(connected: dict[str, Any],
                                                                          api: Any) -> None:
    ws = connected["workspace"]["id"]
    sink = connected["smtp"]
    offer = one_step_workflow(ws, "email.send", OFFER)
    payload = {"payload": {"email": "Mia@Example.com"}}

    first = run_now(offer, ws, "manual", payload)
    assert first["status"] == "succeeded"
    assert _step(first)["status"] == "skipped"
    assert "no recorded consent" in _step(first)["output"]["reason"]
    assert sink.messages == []

    opt_in = one_step_workflow(ws, "contacts.set_consent", {
        "email": "{{ trigger.payload.email }}", "name": "Mia", "channels": ["email"], "wording": WORDING,
        "source": "website form"})
    assert run_now(opt_in, ws, "manual", payload)["status"] == "succeeded"

    sent = run_now(offer, ws, "manual", payload)
    assert _step(sent)["status"] == "succeeded", sent
    assert len(sink.messages) == 1
    msg = sink.messages[0].message
    header = msg["List-Unsubscribe"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(.+)>", header).group(1)
    assert url.startswith(get_settings().base_url + "/api/unsubscribe/")
    text = msg.get_body(("plain",)).get_content()
    assert url in text and "%%" not in text  # {{ unsubscribe_url }} became this recipient's link
    assert url in msg.get_body(("html",)).get_content()  # a footer where the HTML had no placeholder

    page = api.get(urlparse(url).path)
    assert page.status_code == 200 and "Unsubscribe" in page.text  # GET alone changes nothing
    assert contacts.marketing_refusal(ws, "email", "mia@example.com") is None
    click = api.post(urlparse(url).path, content=b"List-Unsubscribe=One-Click",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert click.status_code == 200 and "unsubscribed" in click.text

    again = run_now(offer, ws, "manual", payload)
    assert _step(again)["status"] == "skipped"
    assert "suppression list" in _step(again)["output"]["reason"]
    receipt = one_step_workflow(ws, "email.send", {**OFFER, "subject": "Your receipt", "purpose": "transactional"})
    assert _step(run_now(receipt, ws, "manual", payload))["status"] == "succeeded"
    assert [m.message["Subject"] for m in sink.messages] == ["Winter special", "Your receipt"]
    assert "List-Unsubscribe" not in sink.messages[1].message

    with session_scope() as session:
        detail = contacts.list_contacts(session, Actor.system(ws), search="mia")["items"][0]
        actions = [r.action for r in session.exec(AuditLog.__table__.select().where(
            AuditLog.workspace_id == ws)).all()]
    assert detail["email_consent"] == "withdrawn" and detail["email_suppressed"]
    assert {"consent.set", "suppression.add", "contact.create"} <= set(actions)


def _twilio_post(api: Any, ws: str, body: str, token: str = TWILIO_TOKEN) -> Any:
    path = f"/api/inbound/twilio/{ws}"
    params = {"From": "+61412345678", "To": "+61400000000", "Body": body, "MessageSid": "SM1",
              "AccountSid": TWILIO_SID}
    signature = RequestValidator(token).compute_signature(get_settings().base_url + path, params)
    return api.post(path, data=params, headers={"X-Twilio-Signature": signature})


def test_twilio_stop_and_start_replies(connected: dict[str, Any], api: Any) -> None:
    ws = connected["workspace"]["id"]
    providers = connected["providers"]
    with session_scope() as session:
        contact = contacts.upsert_contact(session, Actor.system(ws), phone="0412 345 678", name="Li")
        contacts.set_consent(session, Actor.system(ws), contact.id, "sms", "granted", source="shop counter",
                             wording="Text me specials")
    promo = one_step_workflow(ws, "sms.send", {"connection": "sms", "to": "0412 345 678",
                                               "body": "Half-price cleans this week!", "purpose": "marketing"})
    sent = run_now(promo, ws, "manual", {})
    assert _step(sent)["status"] == "succeeded", sent
    body = providers.to("/2010-04-01")[-1].form["Body"]
    assert body.endswith("Reply STOP to opt out") and connected["workspace"]["slug"] is not None

    assert _twilio_post(api, ws, "stop", token="not-the-token").status_code == 403
    assert contacts.marketing_refusal(ws, "sms", "+61412345678") is None
    reply = _twilio_post(api, ws, " Stop ")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/xml")
    assert "suppression list" in contacts.marketing_refusal(ws, "sms", "+61412345678")
    skipped = run_now(promo, ws, "manual", {})
    assert _step(skipped)["status"] == "skipped" and "suppression list" in _step(skipped)["output"]["reason"]

    assert _twilio_post(api, ws, "START").status_code == 200
    assert contacts.marketing_refusal(ws, "sms", "+61412345678") is None
    assert _step(run_now(promo, ws, "manual", {}))["status"] == "succeeded"


def test_clicksend_stop_reply_with_the_workspace_secret(sqlite_db: str, workspace: dict[str, str],
                                                        providers: Any, api: Any) -> None:
    ws = workspace["id"]
    create_connections(ws, [{"type": "clicksend", "name": "sms", "config": {
        "username": CLICKSEND_USER, "from_number": "HarbourDent", "base_url": providers.url},
        "secret": {"api_key": CLICKSEND_KEY}}])
    with session_scope() as session:
        secret = contacts.rotate_clicksend_secret(session, Actor.system(ws))
        c = contacts.upsert_contact(session, Actor.system(ws), phone="+61412000111")
        contacts.set_consent(session, Actor.system(ws), c.id, "sms", "granted", source="form", wording="ok")
    promo = one_step_workflow(ws, "sms.send", {"connection": "sms", "to": "+61412000111",
                                               "body": "Specials! Reply STOP to opt out", "purpose": "marketing"})
    assert _step(run_now(promo, ws, "manual", {}))["status"] == "succeeded"
    assert providers.to("/v3/sms/send")[-1].json["messages"][0]["body"] == "Specials! Reply STOP to opt out"

    inbound = {"from": "+61412000111", "to": "+61400000000", "body": "Opt Out", "message_id": "x1"}
    assert api.post("/api/inbound/clicksend/cs_wrong", data=inbound).status_code == 403
    answer = api.post(f"/api/inbound/clicksend/{secret}", data=inbound)
    assert answer.status_code == 200 and answer.json()["handled"] == "stop"
    assert _step(run_now(promo, ws, "manual", {}))["status"] == "skipped"
    assert api.post(f"/api/inbound/clicksend/{secret}", json={**inbound, "body": "start"}).json()["handled"] == "start"
    assert _step(run_now(promo, ws, "manual", {}))["status"] == "succeeded"


def test_lead_template_records_consent_only_when_the_form_says_so(connected: dict[str, Any]) -> None:
    from integ_helpers import webhook_payload

    from engine.catalog import instantiate

    ws = connected["workspace"]["id"]
    with session_scope() as session:
        wf = instantiate(session, Actor.system(ws), "new-lead-welcome", {"send_sms": False}).id
    run_now(wf, ws, "webhook", webhook_payload({"first_name": "Ana", "email": "ana@example.com",
                                                "marketing_opt_in": "yes"}))
    run = run_now(wf, ws, "webhook", webhook_payload({"first_name": "Bo", "email": "bo@example.com"}))
    assert _step(run, "consent")["status"] == "skipped"
    assert contacts.marketing_refusal(ws, "email", "ana@example.com") is None
    assert "no recorded consent" in contacts.marketing_refusal(ws, "email", "bo@example.com")
    with session_scope() as session:
        ana = contacts.list_contacts(session, Actor.system(ws), search="ana")["items"][0]
        history = contacts.contact_detail(session, Actor.system(ws), ana["id"])["history"]
    assert history[0]["wording"] == "Yes, send me news and offers. I can unsubscribe at any time."
    assert history[0]["source"] == "website form (new lead)"
