"""crm.upsert_contact, slack.post_message, data.transform and signed http.request, end to end."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest
from fake_providers import API_TOKEN, HUBSPOT_TOKEN, SIGNING_SECRET, SLACK_PATH, FakeProviders, Reply
from integ_helpers import one_step_workflow, run_now

from engine.actions.crm_upsert_contact import Config as CrmConfig
from engine.actions.crm_upsert_contact import run as upsert
from engine.actions.http_request import Config as HttpConfig
from engine.actions.http_request import run as http_request
from engine.actions.slack_post_message import Config as SlackConfig
from engine.actions.slack_post_message import run as post_slack
from engine.config import Settings
from engine.context import ActionContext, ConnectionData
from engine.errors import PermanentError, RetryableError

ALLOW = Settings(outbound_allow=["127.0.0.0/8"])


def _ctx(*conns: ConnectionData) -> ActionContext:
    by_name = {c.name: c for c in conns}
    return ActionContext(run_id="r1", step_key="s", workflow_id="w", workspace_id="ws", settings=ALLOW,
                         connection_loader=lambda ref: by_name[ref])


def _hubspot(url: str) -> ConnectionData:
    return ConnectionData(id="h", type="hubspot", name="hubspot", config={"base_url": url},
                          secret={"access_token": HUBSPOT_TOKEN})


# -- HubSpot ----------------------------------------------------------------------------------


def test_hubspot_search_then_create_then_update(providers: FakeProviders) -> None:
    ctx = _ctx(_hubspot(providers.url))
    first = asyncio.run(upsert(ctx, CrmConfig(connection="hubspot", email="Mia@Example.com", first_name="Mia",
                                              phone="", properties={"lifecyclestage": "lead"})))
    assert first["action"] == "created"
    search, create = providers.to("/crm/")
    assert (search.method, search.path) == ("POST", "/crm/v3/objects/contacts/search")
    assert search.json["filterGroups"][0]["filters"][0] == {"propertyName": "email", "operator": "EQ",
                                                            "value": "mia@example.com"}
    assert search.headers["authorization"] == f"Bearer {HUBSPOT_TOKEN}"
    assert (create.method, create.path) == ("POST", "/crm/v3/objects/contacts")
    # Empty values are not sent, so they never blank what HubSpot already knows.
    assert create.json == {"properties": {"email": "mia@example.com", "firstname": "Mia", "lifecyclestage": "lead"}}

    second = asyncio.run(upsert(ctx, CrmConfig(connection="hubspot", email="mia@example.com", last_name="Nguyen",
                                               company="Nguyen Cafe")))
    assert second == {"id": first["id"], "action": "updated", "email": "mia@example.com",
                      "properties": ["company", "email", "lastname"]}
    patch = providers.to("/crm/")[-1]
    assert (patch.method, patch.path) == ("PATCH", f"/crm/v3/objects/contacts/{first['id']}")
    assert patch.json == {"properties": {"lastname": "Nguyen", "company": "Nguyen Cafe"}}
    assert providers.contacts[first["id"]]["properties"] == {
        "email": "mia@example.com", "firstname": "Mia", "lifecyclestage": "lead", "lastname": "Nguyen",
        "company": "Nguyen Cafe"}


def test_hubspot_create_race_becomes_an_update(providers: FakeProviders) -> None:
    providers.contacts["77"] = {"id": "77", "properties": {"email": "li@example.com"}}
    # The search misses (e.g. HubSpot's search index lags behind), the create answers 409.
    providers.fail_next["/crm/v3/objects/contacts/search"] = Reply(200, {"total": 0, "results": []})
    out = asyncio.run(upsert(_ctx(_hubspot(providers.url)), CrmConfig(connection="hubspot", email="li@example.com",
                                                                      first_name="Li")))
    assert out["id"] == "77" and out["action"] == "updated"
    assert providers.contacts["77"]["properties"]["firstname"] == "Li"


def test_hubspot_errors(providers: FakeProviders) -> None:
    bad = ConnectionData(id="h", type="hubspot", name="hubspot", config={"base_url": providers.url},
                         secret={"access_token": "pat-wrong-S3CR3T"})
    with pytest.raises(PermanentError) as err:
        asyncio.run(upsert(_ctx(bad), CrmConfig(connection="hubspot", email="a@example.com")))
    assert "401" in str(err.value) and "pat-wrong-S3CR3T" not in str(err.value)
    providers.fail_next["/crm/"] = Reply(502, {"message": "Bad gateway"})
    with pytest.raises(RetryableError):
        asyncio.run(upsert(_ctx(_hubspot(providers.url)), CrmConfig(connection="hubspot", email="a@example.com")))
    with pytest.raises(ValueError):
        CrmConfig(connection="hubspot", email="a@example.com", properties={"Bad Name": 1})


# -- Slack ------------------------------------------------------------------------------------


def _slack(url: str) -> ConnectionData:
    return ConnectionData(id="s", type="slack", name="slack", config={}, secret={"webhook_url": url})


def test_slack_webhook_receives_text_and_blocks(providers: FakeProviders) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*New lead*"}}]
    out = asyncio.run(post_slack(_ctx(_slack(providers.url + SLACK_PATH)),
                                 SlackConfig(connection="slack", text="New lead: Mia", blocks=blocks)))
    (req,) = providers.to("/services/")
    assert req.method == "POST" and req.path == SLACK_PATH
    assert req.json == {"text": "New lead: Mia", "blocks": blocks}
    assert out["ok"] is True and out["response"] == "ok"


def test_slack_revoked_webhook_is_permanent_and_url_is_never_shown(providers: FakeProviders) -> None:
    revoked = providers.url + "/services/T00FLOW/B00MATE/revokedS3CR3T"
    with pytest.raises(PermanentError) as err:
        asyncio.run(post_slack(_ctx(_slack(revoked)), SlackConfig(connection="slack", text="hi")))
    assert "no_service" in str(err.value) and "revokedS3CR3T" not in str(err.value)
    providers.fail_next["/services/"] = Reply(429, "rate_limited", "text/plain")
    with pytest.raises(RetryableError):
        asyncio.run(post_slack(_ctx(_slack(providers.url + SLACK_PATH)), SlackConfig(connection="slack", text="x")))


# -- data.transform ---------------------------------------------------------------------------


def test_transform_builds_native_values_for_later_steps(connected: dict[str, Any]) -> None:
    from engine.db import session_scope
    from engine.services.actor import Actor
    from engine.services.workflows import create_workflow

    ws = connected["workspace"]["id"]
    with session_scope() as session:
        wf = create_workflow(session, Actor.system(ws), {
            "name": "transform", "trigger": {"type": "manual", "config": {}},
            "steps": [
                {"key": "lead", "action": "data.transform", "config": {"mapping": {
                    "full_name": "{{ trigger.payload.first }} {{ trigger.payload.last }}",
                    "email": "{{ trigger.payload.email | lower }}",
                    "total": "{{ trigger.payload.lines | sum(attribute='price') }}",
                    "is_vip": "{{ trigger.payload.lines | sum(attribute='price') > 100 }}",
                    "tags": ["{{ trigger.payload.source }}", "web"],
                    "constant": 7,
                }}},
                {"key": "notify", "action": "slack.post_message", "config": {
                    "connection": "slack",
                    "text": "{{ steps.lead.output.full_name }} spent {{ steps.lead.output.total }}"
                            "{% if steps.lead.output.is_vip %} (VIP){% endif %}"}},
            ],
        }).id
    run = run_now(wf, ws, "manual", {"payload": {"first": "Ava", "last": "Brown", "email": "AVA@EXAMPLE.COM",
                                                 "source": "ads", "lines": [{"price": 80}, {"price": 45.5}]}})
    assert run["status"] == "succeeded", run
    assert run["steps"][0]["output"] == {"full_name": "Ava Brown", "email": "ava@example.com", "total": 125.5,
                                         "is_vip": True, "tags": ["ads", "web"], "constant": 7}
    assert connected["providers"].to("/services/")[0].json == {"text": "Ava Brown spent 125.5 (VIP)"}


# -- http.request: base_url + HMAC signing ----------------------------------------------------


def test_http_request_signs_the_exact_body(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    wf = one_step_workflow(ws, "http.request", {
        "method": "POST", "url": "/leads", "connection": "business-api",
        "json": {"email": "{{ trigger.payload.email }}", "name": "Zoë"},
        "sign": {"secret_connection": "business-api", "header": "X-Signature", "prefix": "sha256=",
                 "timestamp_header": "X-Signature-Timestamp"},
    })
    run = run_now(wf, ws, "manual", {"payload": {"email": "zoe@example.com"}})
    assert run["status"] == "succeeded", run
    (req,) = connected["providers"].to("/leads")
    timestamp = req.headers["x-signature-timestamp"]
    expected = hmac.new(SIGNING_SECRET.encode(), f"{timestamp}.".encode() + req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-signature"] == "sha256=" + expected
    assert json.loads(req.body) == {"email": "zoe@example.com", "name": "Zoë"}
    assert req.headers["content-type"] == "application/json"
    assert req.headers["authorization"].startswith("Bearer ")


def test_signing_needs_a_connection_with_a_signing_secret(providers: FakeProviders) -> None:
    plain = ConnectionData(id="p", type="http", name="plain", config={"auth_type": "none", "base_url": providers.url},
                           secret={})
    config = HttpConfig.model_validate({"method": "POST", "url": "/leads", "connection": "plain", "json": {"a": 1},
                                        "sign": {"secret_connection": "plain"}})
    with pytest.raises(PermanentError, match="no signing_secret"):
        asyncio.run(http_request(_ctx(plain), config))
    with pytest.raises(ValueError):
        HttpConfig.model_validate({"url": "/x", "sign": {"secret_connection": "p", "header": "Bad Header: x"}})


# -- http.request: Standard Webhooks signing --------------------------------------------------

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_http_request_signs_as_standard_webhooks_with_a_stable_id(providers: FakeProviders) -> None:
    from standardwebhooks.webhooks import Webhook

    api = ConnectionData(id="a", type="http", name="receiver",
                         config={"auth_type": "bearer", "base_url": providers.url},
                         secret={"token": API_TOKEN, "signing_secret": STANDARD_SECRET})
    config = HttpConfig.model_validate({"method": "POST", "url": "/leads", "connection": "receiver",
                                        "json": {"type": "lead.created", "data": {"email": "zoë@example.com"}},
                                        "sign": {"secret_connection": "receiver", "scheme": "standard_webhooks"}})
    ctx = _ctx(api)
    asyncio.run(http_request(ctx, config))
    asyncio.run(http_request(ctx, config))  # a retry of the same step
    first, again = providers.to("/leads")
    # The receiver verifies with the spec's reference implementation: id, timestamp, v1 signature.
    assert Webhook(STANDARD_SECRET).verify(first.body, {k.lower(): v for k, v in first.headers.items()}) == {
        "type": "lead.created", "data": {"email": "zoë@example.com"}}
    assert first.headers["webhook-signature"].startswith("v1,")
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert first.headers["webhook-id"].startswith("msg_")
    with pytest.raises(Exception, match="signature"):
        Webhook(STANDARD_SECRET).verify(first.body + b" ", {k.lower(): v for k, v in first.headers.items()})
    other_step = ActionContext(run_id="r2", step_key="s", workflow_id="w", workspace_id="ws", settings=ALLOW,
                               connection_loader=lambda ref: api)
    asyncio.run(http_request(other_step, config))
    assert providers.to("/leads")[2].headers["webhook-id"] != first.headers["webhook-id"]


def test_standard_webhooks_signing_needs_a_base64_secret(providers: FakeProviders) -> None:
    api = ConnectionData(id="a", type="http", name="receiver", config={"auth_type": "none", "base_url": providers.url},
                         secret={"signing_secret": "not base64 at all!"})
    config = HttpConfig.model_validate({"method": "POST", "url": "/leads", "connection": "receiver", "json": {},
                                        "sign": {"secret_connection": "receiver", "scheme": "standard_webhooks"}})
    with pytest.raises(PermanentError, match="not a Standard Webhooks secret"):
        asyncio.run(http_request(_ctx(api), config))
    assert providers.to("/leads") == []
