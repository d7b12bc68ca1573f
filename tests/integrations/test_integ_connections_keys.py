""""Test connection" against the local servers, and `flowmate keys rotate` keeping everything usable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fake_providers import SLACK_PATH, FakeProviders, MailSink
from integ_helpers import connection_specs, create_connections, flowmate_cli, one_step_workflow, run_now

from engine.services import connections as connection_service


def _check(workspace_id: str, connection_id: str) -> dict[str, Any]:
    from engine.db import session_scope
    from engine.services.actor import Actor

    with session_scope() as session:
        return connection_service.test_connection(session, Actor.system(workspace_id), connection_id)


def _update(workspace_id: str, connection_id: str, raw: dict[str, Any]) -> None:
    from engine.db import session_scope
    from engine.services.actor import Actor

    with session_scope() as session:
        connection_service.update_connection(session, Actor.system(workspace_id), connection_id, raw)


def test_every_connection_type_passes_its_check(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    providers: FakeProviders = connected["providers"]
    results = {name: _check(ws, cid) for name, cid in connected["connections"].items()}
    assert all(r["ok"] for r in results.values()), results
    assert "Harbour Dental" in results["sms"]["message"]
    assert "logged in" in results["smtp"]["message"]
    assert "nothing was posted" in results["slack"]["message"]
    # The checks are cheap reads: no SMS, no contact, no Slack message and no email were created.
    assert [r.method for r in providers.to("/2010-04-01/")] == ["GET"]
    assert providers.contacts == {}
    assert providers.to("/services/")[0].json == {}
    assert connected["smtp"].messages == []


def test_clicksend_check(sqlite_db: str, workspace: dict[str, str], providers: FakeProviders,
                         smtp_server: tuple[MailSink, int]) -> None:
    ids = create_connections(workspace["id"], [connection_specs(providers, smtp_server[1], sms="clicksend")[1]])
    result = _check(workspace["id"], ids["sms"])
    assert result["ok"] and "balance 42.10" in result["message"]


@pytest.mark.parametrize(("name", "bad_secret", "expect"), [
    ("sms", {"auth_token": "bad-S3CR3T-token"}, "credentials refused"),
    ("hubspot", {"access_token": "bad-S3CR3T-token"}, "credentials refused"),
    ("smtp", {"password": "bad-S3CR3T-token"}, "authentication failed"),
    ("business-api", {"token": "bad-S3CR3T-token"}, "credentials refused"),
])
def test_bad_credentials_fail_the_check_without_showing_them(connected: dict[str, Any], name: str,
                                                             bad_secret: dict[str, str], expect: str) -> None:
    ws = connected["workspace"]["id"]
    _update(ws, connected["connections"][name], {"secret": bad_secret})
    result = _check(ws, connected["connections"][name])
    assert result["ok"] is False and expect in result["message"], result
    assert "bad-S3CR3T-token" not in json.dumps(result)


def test_revoked_slack_webhook_fails_the_check(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    revoked = connected["providers"].url + "/services/T00FLOW/B00MATE/revokedS3CR3T"
    _update(ws, connected["connections"]["slack"], {"secret": {"webhook_url": revoked}})
    result = _check(ws, connected["connections"]["slack"])
    assert result["ok"] is False and "not valid any more" in result["message"]
    assert "revokedS3CR3T" not in json.dumps(result) and SLACK_PATH not in json.dumps(result)


def test_cli_connections_test(connected: dict[str, Any]) -> None:
    done = flowmate_cli("connections", "test", connected["connections"]["hubspot"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


# -- key rotation -----------------------------------------------------------------------------

KEY_A = "key-A-" + "a" * 40
KEY_B = "key-B-" + "b" * 40


def _use_keys(monkeypatch: pytest.MonkeyPatch, primary: str, old: str | None) -> None:
    from engine.config import get_settings

    monkeypatch.setenv("FLOWMATE_SECRET_KEY", primary)
    if old:
        monkeypatch.setenv("FLOWMATE_OLD_SECRET_KEYS", old)
    else:
        monkeypatch.delenv("FLOWMATE_OLD_SECRET_KEYS", raising=False)
    get_settings.cache_clear()


def _stored(table: str) -> dict[str, str]:
    from sqlalchemy import text

    from engine.db import get_engine

    with get_engine().connect() as conn:
        rows = conn.execute(text(f"SELECT id, secret_encrypted FROM {table} WHERE secret_encrypted IS NOT NULL"))
        return {row[0]: row[1] for row in rows}


def test_rotation_keeps_every_connection_usable(sqlite_db: str, workspace: dict[str, str], providers: FakeProviders,
                                                smtp_server: tuple[MailSink, int],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.db import session_scope
    from engine.services.actor import Actor
    from engine.services.workflows import create_workflow

    ws = workspace["id"]
    _use_keys(monkeypatch, KEY_A, None)
    ids = create_connections(ws, connection_specs(providers, smtp_server[1]))
    with session_scope() as session:
        create_workflow(session, Actor.system(ws), {
            "name": "signed hook", "steps": [],
            "trigger": {"type": "webhook", "config": {"auth": {"type": "hmac", "secret": "hook-S3CR3T-value"}}}})
    before_conn, before_trig = _stored("connection"), _stored("trigger")

    # The operator's procedure: new primary key, previous key kept as "old", then rotate.
    _use_keys(monkeypatch, KEY_B, KEY_A)
    done = flowmate_cli("keys", "rotate")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["rotated"]
    assert report["connections"] == 5 and report["triggers"] == 1
    after_conn, after_trig = _stored("connection"), _stored("trigger")
    assert all(after_conn[i] != before_conn[i] for i in before_conn)
    assert all(after_trig[i] != before_trig[i] for i in before_trig)

    # The old key is gone now: everything must still decrypt and work.
    _use_keys(monkeypatch, KEY_B, None)
    from engine.crypto import decrypt_json

    assert decrypt_json(next(iter(after_trig.values())))["secret"] == "hook-S3CR3T-value"
    for cid in ids.values():
        assert _check(ws, cid)["ok"], cid
    wf = one_step_workflow(ws, "sms.send", {"connection": "sms", "to": "0412 345 678", "body": "after rotation"})
    assert run_now(wf, ws, "manual", {"payload": {}})["status"] == "succeeded"
    assert providers.to("/2010-04-01/")[-1].form["Body"] == "after rotation"

    # Rotating again is harmless.
    done = flowmate_cli("keys", "rotate")
    assert done.returncode == 0 and json.loads(done.stdout)["rotated"]["connections"] == 5


def test_rotation_with_a_missing_key_changes_nothing(sqlite_db: str, workspace: dict[str, str],
                                                     providers: FakeProviders, smtp_server: tuple[MailSink, int],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _use_keys(monkeypatch, KEY_A, None)
    create_connections(workspace["id"], connection_specs(providers, smtp_server[1]))
    before = _stored("connection")
    _use_keys(monkeypatch, KEY_B, None)  # forgot to keep KEY_A as an old key
    done = flowmate_cli("keys", "rotate")
    assert done.returncode == 1
    error = json.loads(done.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "rotation_failed" and len(error["failures"]) == 5
    assert _stored("connection") == before
