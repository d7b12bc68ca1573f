"""Trigger types are classes with hooks; services and the intake call the hooks, not `if type ==`."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from engine.errors import ValidationFailed
from engine.registry import (
    ACTIONS,
    AuthFailed,
    IncomingRequest,
    RegistryError,
    action,
    all_triggers,
    get_trigger,
)


def test_built_in_trigger_types_are_registered_classes() -> None:
    kinds = all_triggers()
    assert {"webhook", "cron", "manual"} <= set(kinds)
    assert all(k.package == "flowmate" for k in kinds.values())
    assert [n for n, k in kinds.items() if k.has_endpoint] == ["webhook"]


def test_webhook_prepare_splits_secrets_and_refuses_missing_ones() -> None:
    webhook = get_trigger("webhook")
    config, secret = webhook.prepare({"methods": ["POST"], "auth": {"type": "header", "token": "s3cret"}}, {})
    assert "token" not in config["auth"] and secret == {"token": "s3cret", "auth_type": "header"}
    _, secret = webhook.prepare({"auth": {"type": "header"}}, {"token": "old", "auth_type": "header"})
    assert secret["token"] == "old"
    with pytest.raises(ValidationFailed) as err:
        webhook.prepare({"auth": {"type": "basic", "password": "pw"}}, {})
    assert "trigger.config.auth.username" in err.value.fields


def test_webhook_authenticate_per_auth_type() -> None:
    webhook = get_trigger("webhook")
    config = {"auth": {"type": "header", "header_name": "X-Key"}}
    hidden = webhook.authenticate(config, {"token": "abc"}, IncomingRequest("POST", {"X-Key": "abc"}, b""))
    assert hidden == {"x-key"}  # never copied into the run payload
    with pytest.raises(AuthFailed):
        webhook.authenticate(config, {"token": "abc"}, IncomingRequest("POST", {"X-Key": "nope"}, b""))
    basic = {"auth": {"type": "basic", "username": "jo"}}
    good = "Basic " + base64.b64encode(b"jo:pw").decode()
    request = IncomingRequest("POST", {"authorization": good}, b"")
    assert webhook.authenticate(basic, {"password": "pw"}, request) == set()
    with pytest.raises(AuthFailed) as err:
        webhook.authenticate(basic, {"password": "pw"}, IncomingRequest("POST", {}, b""))
    assert err.value.basic
    assert get_trigger("manual").authenticate({}, {}, IncomingRequest("POST", {}, b"")) == set()


def test_cron_next_fire_and_public_view() -> None:
    cron = get_trigger("cron")
    after = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday
    assert cron.next_fire_at({"expression": "0 9 * * 1-5"}, "UTC", after) == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert get_trigger("manual").next_fire_at({}, "UTC", after) is None
    view = cron.public_view({"expression": "0 9 * * *"}, token=None, secret_set=False, next_fire_at=after)
    assert view == {"type": "cron", "config": {"expression": "0 9 * * *"}, "next_fire_at": after.isoformat()}
    hook = get_trigger("webhook").public_view({}, token="tok", secret_set=True, next_fire_at=None)
    assert hook["webhook_path"] == "/hooks/tok" and hook["secret_set"] is True


def test_sample_and_test_payloads_name_the_trigger_object() -> None:
    assert get_trigger("manual").test_payload({}, {"a": 1}) == {"payload": {"a": 1}}
    hook = get_trigger("webhook").test_payload({}, {"a": 1})
    assert hook["body"] == {"a": 1} and hook["method"] == "POST"
    assert set(get_trigger("cron").test_payload({}, None)) == {"scheduled_at"}


def test_registering_an_existing_action_name_raises() -> None:
    get_trigger("manual")  # built-ins loaded

    class Config(BaseModel):
        pass

    before = dict(ACTIONS)
    with pytest.raises(RegistryError, match="'core.log' is registered twice by flowmate"):
        action("core.log", config=Config, title="x", description="x")(lambda ctx, config: None)
    assert before == ACTIONS
