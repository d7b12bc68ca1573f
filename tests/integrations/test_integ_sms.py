"""sms.send against local Twilio and ClickSend endpoints: real request shapes, numbers, error classes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fake_providers import CLICKSEND_KEY, CLICKSEND_USER, TWILIO_SID, TWILIO_TOKEN, FakeProviders, Reply
from integ_helpers import one_step_workflow, run_now

from engine.actions.sms_send import Config, normalise_number
from engine.actions.sms_send import run as send_sms
from engine.config import Settings
from engine.context import ActionContext, ConnectionData
from engine.errors import PermanentError, RetryableError

ALLOW = Settings(outbound_allow=["127.0.0.0/8"])


def _twilio(url: str, token: str = TWILIO_TOKEN) -> ConnectionData:
    return ConnectionData(id="t", type="twilio", name="sms",
                          config={"account_sid": TWILIO_SID, "from_number": "0400 000 000", "base_url": url},
                          secret={"auth_token": token})


def _clicksend(url: str, key: str = CLICKSEND_KEY) -> ConnectionData:
    return ConnectionData(id="c", type="clicksend", name="sms",
                          config={"username": CLICKSEND_USER, "from_number": "HarbourDent", "base_url": url},
                          secret={"api_key": key})


def _send(conn: ConnectionData, **config: Any) -> dict[str, Any]:
    ctx = ActionContext(run_id="r1", step_key="remind", workflow_id="w", workspace_id="ws", settings=ALLOW,
                        connection_loader=lambda ref: conn)
    return asyncio.run(send_sms(ctx, Config.model_validate({"connection": "sms", **config})))


@pytest.mark.parametrize(("raw", "expected"), [
    ("0412 345 678", "+61412345678"),
    ("0412345678", "+61412345678"),
    ("+61 412 345 678", "+61412345678"),
    ("(02) 9999 1234", "+61299991234"),
    ("+64 21 123 4567", "+64211234567"),
])
def test_numbers_are_normalised_to_e164(raw: str, expected: str) -> None:
    assert normalise_number(raw) == expected


@pytest.mark.parametrize("raw", ["12", "0412 345", "call me", "+61 000 000 000"])
def test_bad_numbers_are_refused(raw: str) -> None:
    with pytest.raises(PermanentError):
        normalise_number(raw)


def test_twilio_request_shape(providers: FakeProviders) -> None:
    out = _send(_twilio(providers.url), to="0412 345 678", body="See you at 10am")
    (req,) = providers.to("/2010-04-01/")
    assert req.method == "POST"
    assert req.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.form == {"To": "+61412345678", "From": "+61400000000", "Body": "See you at 10am"}
    assert req.basic_auth() == (TWILIO_SID, TWILIO_TOKEN)
    assert req.headers["idempotency-key"] == "r1:remind"
    assert out["provider"] == "twilio" and out["to"] == "+61412345678" and out["message_id"].startswith("SM")


def test_clicksend_request_shape(providers: FakeProviders) -> None:
    out = _send(_clicksend(providers.url), to="0412 345 678", body="Reminder")
    (req,) = providers.to("/v3/")
    assert req.method == "POST" and req.path == "/v3/sms/send"
    assert req.json == {"messages": [{"to": "+61412345678", "body": "Reminder", "from": "HarbourDent",
                                      "source": "flowmate", "custom_string": "r1:remind"}]}
    assert req.basic_auth() == (CLICKSEND_USER, CLICKSEND_KEY)
    assert out == {"provider": "clicksend", "message_id": "CS-0", "status": "success", "to": "+61412345678",
                   "from": "HarbourDent", "segments": 1}


def test_step_sender_overrides_connection(providers: FakeProviders) -> None:
    _send(_twilio(providers.url), to="+61412345678", body="x", **{"from": "HarbourDent"})
    assert providers.to("/2010-04-01/")[0].form["From"] == "HarbourDent"
    with pytest.raises(PermanentError, match="sender id"):
        _send(_twilio(providers.url), to="+61412345678", body="x", **{"from": "Far too long a sender"})


def test_invalid_number_fails_before_any_request(providers: FakeProviders) -> None:
    with pytest.raises(PermanentError, match="not a valid phone number"):
        _send(_twilio(providers.url), to="0412 345", body="x")
    assert providers.requests == []


def test_rate_limit_and_server_errors_are_retryable(providers: FakeProviders) -> None:
    providers.fail_next["/2010-04-01/"] = Reply(429, {"code": 20429, "message": "Too Many Requests", "status": 429})
    with pytest.raises(RetryableError, match="429"):
        _send(_twilio(providers.url), to="0412345678", body="x")
    providers.fail_next["/v3/"] = Reply(503, {"http_code": 503, "response_code": "UNAVAILABLE",
                                              "response_msg": "Down for maintenance"})
    with pytest.raises(RetryableError, match="Down for maintenance"):
        _send(_clicksend(providers.url), to="0412345678", body="x")


def test_client_errors_are_permanent_with_the_provider_message(providers: FakeProviders) -> None:
    with pytest.raises(PermanentError) as err:
        _send(_twilio(providers.url, token="wrong-S3CR3T-token"), to="0412345678", body="x")
    assert "401" in str(err.value) and "Authenticate" in str(err.value)
    assert "wrong-S3CR3T-token" not in str(err.value)
    with pytest.raises(PermanentError, match="Invalid username or api key"):
        _send(_clicksend(providers.url, key="nope-nope"), to="0412345678", body="x")
    providers.fail_next["/v3/"] = Reply(200, {"http_code": 200, "response_code": "SUCCESS", "data": {
        "messages": [{"status": "INSUFFICIENT_CREDIT", "to": "+61412345678"}]}})
    with pytest.raises(PermanentError, match="INSUFFICIENT_CREDIT"):
        _send(_clicksend(providers.url), to="0412345678", body="x")


def test_sms_step_through_the_executor_with_expressions(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    wf = one_step_workflow(ws, "sms.send", {"connection": "sms", "to": "{{ trigger.payload.phone }}",
                                            "body": "Hi {{ trigger.payload.name }}!"})
    run = run_now(wf, ws, "manual", {"payload": {"phone": "0412 345 678", "name": "Sam"}})
    assert run["status"] == "succeeded", run
    req = connected["providers"].to("/2010-04-01/")[0]
    assert req.form["To"] == "+61412345678" and req.form["Body"] == "Hi Sam!"
    assert run["steps"][0]["output"]["to"] == "+61412345678"


def test_permanent_provider_error_fails_the_run_at_once(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    connected["providers"].fail_next["/2010-04-01/"] = Reply(400, {"code": 21610, "message": "Attempt to send to "
                                                                   "unsubscribed recipient", "status": 400})
    wf = one_step_workflow(ws, "sms.send", {"connection": "sms", "to": "0412345678", "body": "x"}, max_attempts=5)
    run = run_now(wf, ws, "manual", {"payload": {}})
    assert run["status"] == "failed"
    assert "unsubscribed recipient" in run["error"] and run["steps"][0]["attempts"] == 1
