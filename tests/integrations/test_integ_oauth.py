"""OAuth 2.0 connections against a local authorization server over real HTTP.

Connect flow (state bound to the session, single use, 10-minute expiry; PKCE checked by the
server), tenant choice, token refresh before expiry and after a 401, one refresh for concurrent
steps (SQLite and PostgreSQL), and "Reconnect needed" when the refresh is refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fake_oauth import CLIENT_ID, CLIENT_SECRET, TENANT_A, TENANT_B, FakeOAuth, oauth_env, running
from oauth_helpers import SignedIn, approve, connect, connection_row, signed_in_client, start

from engine.config import Settings
from engine.context import ActionContext
from engine.errors import StepError
from engine.oauth import tokens


@pytest.fixture
def server() -> Iterator[FakeOAuth]:
    with running(FakeOAuth()) as fake:
        yield fake


@pytest.fixture
def who(sqlite_db: str, server: FakeOAuth, monkeypatch: pytest.MonkeyPatch) -> Iterator[SignedIn]:
    oauth_env(monkeypatch, server)
    yield signed_in_client()


def _ctx(workspace_id: str) -> ActionContext:
    from engine.services.connections import load_connection

    return ActionContext(run_id="run1", step_key="find", workflow_id="wf", workspace_id=workspace_id,
                         settings=Settings(outbound_allow=["127.0.0.0/8"]),
                         connection_loader=lambda ref: load_connection(workspace_id, ref), oauth=tokens)


def _find(workspace_id: str) -> dict[str, Any]:
    from engine.actions.xero_find_contact import Config, run

    return asyncio.run(run(_ctx(workspace_id), Config(connection="xero", email="nobody@example.com")))


def _grant(connection_id: str) -> Any:
    from engine.db import session_scope
    from engine.models import OAuthGrant

    with session_scope() as session:
        return session.get(OAuthGrant, connection_id)


def _set_grant_expiry(connection_id: str, seconds_from_now: float) -> None:
    from engine.db import session_scope, utcnow
    from engine.models import OAuthGrant

    with session_scope() as session:
        grant = session.get(OAuthGrant, connection_id)
        grant.expires_at = utcnow() + timedelta(seconds=seconds_from_now)
        session.add(grant)


# -- connect ----------------------------------------------------------------------------------


def test_connect_stores_encrypted_tokens_and_the_single_tenant(who: SignedIn, server: FakeOAuth) -> None:
    authorize = start(who)
    assert authorize.startswith(server.url + "/authorize?")
    query = httpx.URL(authorize).params
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert "offline_access" in query["scope"] and "accounting.invoices" in query["scope"]
    assert query["redirect_uri"] == "http://localhost:3000/oauth/callback"

    answer = approve(authorize)
    r = who.client.get("/oauth/callback", params=answer, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/connections?connected=xero"
    assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"

    conn = connection_row(who.workspace_id, "xero")
    assert conn.type == "xero" and conn.config["tenant_id"] == TENANT_A
    assert conn.config["tenant_name"] == "Harbour Bakery Pty Ltd" and conn.config["base_url"] == server.url
    issued = next(iter(server.access))
    assert issued not in conn.secret_encrypted and "ref-" not in conn.secret_encrypted  # encrypted at rest
    from engine.crypto import decrypt_json

    assert set(decrypt_json(conn.secret_encrypted)) == {"access_token", "refresh_token"}
    assert _grant(conn.id).status == "ok" and _grant(conn.id).expires_at is not None
    token_call = server.to("/token")[-1]
    assert token_call.form["grant_type"] == "authorization_code" and len(token_call.form["code_verifier"]) >= 43
    assert token_call.headers["authorization"].startswith("Basic ")  # client_secret_basic, as Xero wants
    assert server.pkce_failures == 0
    # The connection works for an action straight away.
    assert _find(who.workspace_id) == {"found": False, "contact_id": None}


def test_find_contact_sample_matches_a_real_hit(who: SignedIn, server: FakeOAuth) -> None:
    from engine.actions._samples import SAMPLE_OUTPUTS

    connect(who, server)
    server.contacts["c1"] = {"ContactID": "c1", "Name": "Jo", "EmailAddress": "nobody@example.com",
                             "ContactStatus": "ACTIVE"}
    found = _find(who.workspace_id)
    assert found["found"] is True and found["contact_id"] == "c1"
    assert set(SAMPLE_OUTPUTS["xero.find_contact"]) == set(found)


def test_the_server_really_checks_the_pkce_verifier(who: SignedIn, server: FakeOAuth) -> None:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = "http://localhost:3000/oauth/callback"
    code = server.issue_code(redirect, challenge)
    wrong = httpx.post(server.url + "/token", data={"grant_type": "authorization_code", "code": code,
                                                    "redirect_uri": redirect, "code_verifier": "w" * 50},
                       auth=(CLIENT_ID, CLIENT_SECRET))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant" and server.pkce_failures == 1
    code = server.issue_code(redirect, challenge)
    right = httpx.post(server.url + "/token", data={"grant_type": "authorization_code", "code": code,
                                                    "redirect_uri": redirect, "code_verifier": verifier},
                       auth=(CLIENT_ID, CLIENT_SECRET))
    assert right.status_code == 200 and right.json()["refresh_token"]


def test_state_reuse_is_refused(who: SignedIn, server: FakeOAuth) -> None:
    answer = approve(start(who))
    assert who.client.get("/oauth/callback", params=answer, follow_redirects=False).status_code == 303
    again = who.client.get("/oauth/callback", params=answer, follow_redirects=False)
    assert again.status_code == 400 and "already used" in again.text
    assert "Back to Connections" in again.text


def test_wrong_state_is_refused_and_changes_nothing(who: SignedIn, server: FakeOAuth) -> None:
    answer = approve(start(who))
    r = who.client.get("/oauth/callback", params={**answer, "state": answer["state"] + "x"}, follow_redirects=False)
    assert r.status_code == 400 and "not one FlowMate issued" in r.text
    assert len(server.to("/token")) == 0  # the code was never redeemed
    from sqlmodel import select

    from engine.db import session_scope
    from engine.models import Connection

    with session_scope() as session:
        assert session.exec(select(Connection)).all() == []


def test_expired_state_is_refused(who: SignedIn, server: FakeOAuth) -> None:
    from engine.db import session_scope, utcnow
    from engine.models import OAuthState

    answer = approve(start(who))
    with session_scope() as session:
        for row in session.exec(__import__("sqlmodel").select(OAuthState)).all():
            assert (row.expires_at.replace(tzinfo=None) - row.created_at.replace(tzinfo=None)) == timedelta(minutes=10)
            row.expires_at = utcnow() - timedelta(seconds=1)
            session.add(row)
    r = who.client.get("/oauth/callback", params=answer, follow_redirects=False)
    assert r.status_code == 400 and "expired" in r.text and len(server.to("/token")) == 0


def test_state_from_another_browser_session_is_refused(who: SignedIn, server: FakeOAuth) -> None:
    answer = approve(start(who))
    other = signed_in_client("someone.else@example.com")
    r = other.client.get("/oauth/callback", params=answer, follow_redirects=False)
    assert r.status_code == 400 and "another browser session" in r.text and len(server.to("/token")) == 0


def test_denied_consent_and_unconfigured_provider(who: SignedIn, server: FakeOAuth,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    answer = approve(start(who), decision="deny")
    r = who.client.get("/oauth/callback", params=answer, follow_redirects=False)
    assert r.status_code == 400 and "did not grant access (access_denied)" in r.text

    monkeypatch.delenv("FLOWMATE_OAUTH_XERO_CLIENT_SECRET")
    r = who.client.get("/oauth/start", params={"type": "xero", "name": "books"}, follow_redirects=False)
    assert r.status_code == 400 and "Xero is not configured on this server" in r.text
    assert "FLOWMATE_OAUTH_XERO_CLIENT_ID" in r.text
    providers = who.client.get("/api/v1/oauth/providers").json()["items"]
    xero = next(p for p in providers if p["type"] == "xero")
    assert xero["configured"] is False and xero["redirect_uri"].endswith("/oauth/callback")


def test_several_organisations_are_chosen_after_connecting(who: SignedIn, server: FakeOAuth) -> None:
    server.tenants.append({"id": "c2", "tenantId": TENANT_B, "tenantType": "ORGANISATION",
                           "tenantName": "Harbour Cafe Trust"})
    r = connect(who, server)
    assert r.status_code == 200 and "Choose the Xero organisation" in r.text and "Harbour Cafe Trust" in r.text
    conn = connection_row(who.workspace_id, "xero")
    assert "tenant_id" not in conn.config
    with pytest.raises(StepError, match="no Xero organisation chosen"):
        _find(who.workspace_id)
    bad = who.client.post("/oauth/tenant", data={"connection_id": conn.id, "tenant_id": "not-mine"},
                          follow_redirects=False)
    assert bad.status_code == 400 and "not part of this connection" in bad.text
    ok = who.client.post("/oauth/tenant", data={"connection_id": conn.id, "tenant_id": TENANT_B},
                         follow_redirects=False)
    assert ok.status_code == 303
    assert connection_row(who.workspace_id, "xero").config["tenant_name"] == "Harbour Cafe Trust"
    assert _find(who.workspace_id)["found"] is False


# -- refresh ----------------------------------------------------------------------------------


def test_refresh_shortly_before_expiry(who: SignedIn, server: FakeOAuth) -> None:
    connect(who, server)
    conn = connection_row(who.workspace_id, "xero")
    _find(who.workspace_id)
    assert server.refresh_calls == 0
    _set_grant_expiry(conn.id, 30)  # less than the two-minute leeway left
    _find(who.workspace_id)
    assert server.refresh_calls == 1
    grant = _grant(conn.id)
    assert grant.refresh_count == 1 and grant.status == "ok"
    _find(who.workspace_id)  # the new token is good for half an hour: no second refresh
    assert server.refresh_calls == 1


def test_a_401_refreshes_once_and_retries(who: SignedIn, server: FakeOAuth) -> None:
    connect(who, server)
    server.expire_all_access_tokens()  # revoked early at the provider although we think it is valid
    assert _find(who.workspace_id)["found"] is False
    assert server.refresh_calls == 1
    statuses = [r.path for r in server.to("/api.xro/")]
    assert len(statuses) == 2  # the 401, then the retry with the new token


def _concurrent_finds(workspace_id: str, n: int = 2) -> list[Any]:
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = _find(workspace_id)
        except Exception as exc:  # collected for the assertion
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def _concurrent_refresh_once(who: SignedIn, server: FakeOAuth) -> None:
    connect(who, server)
    conn = connection_row(who.workspace_id, "xero")
    _set_grant_expiry(conn.id, 10)
    server.refresh_delay_s = 0.4  # widen the window in which a second refresh would race
    results = _concurrent_finds(who.workspace_id, 3)
    assert all(isinstance(r, dict) and r["found"] is False for r in results), results
    assert server.refresh_calls == 1  # a second use of the rotated refresh token would revoke the grant
    assert _grant(conn.id).status == "ok" and not server.revoked_grants


def test_concurrent_steps_refresh_exactly_once_sqlite(who: SignedIn, server: FakeOAuth) -> None:
    _concurrent_refresh_once(who, server)


@pytest.mark.integration
def test_concurrent_steps_refresh_exactly_once_postgres(pg_db: str, server: FakeOAuth,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    oauth_env(monkeypatch, server)
    _concurrent_refresh_once(signed_in_client(), server)


def test_concurrent_401s_refresh_exactly_once(who: SignedIn, server: FakeOAuth) -> None:
    connect(who, server)
    server.expire_all_access_tokens()  # every step gets a 401 with the token it holds
    server.refresh_delay_s = 0.4
    results = _concurrent_finds(who.workspace_id, 3)
    assert all(isinstance(r, dict) for r in results), results
    assert server.refresh_calls == 1 and not server.revoked_grants


def test_old_states_are_swept_when_a_new_connect_starts(who: SignedIn, server: FakeOAuth) -> None:
    from sqlmodel import select

    from engine.db import session_scope, utcnow
    from engine.models import OAuthState

    start(who)
    with session_scope() as session:
        for row in session.exec(select(OAuthState)).all():
            row.expires_at = utcnow() - timedelta(hours=2)
            session.add(row)
    start(who, name="books2")
    with session_scope() as session:
        assert len(session.exec(select(OAuthState)).all()) == 1


def test_refused_refresh_means_reconnect_needed(who: SignedIn, server: FakeOAuth) -> None:
    from engine.oauth.tokens import ReconnectNeeded

    connect(who, server)
    conn = connection_row(who.workspace_id, "xero")
    server.revoked_grants.update(e["grant"] for e in server.refresh.values())  # revoked in Xero's settings
    _set_grant_expiry(conn.id, 5)
    with pytest.raises(ReconnectNeeded) as err:
        _find(who.workspace_id)
    assert err.value.retryable is False and "needs to be reconnected to Xero" in str(err.value)
    assert "invalid_grant" in str(err.value)
    grant = _grant(conn.id)
    assert grant.status == "reconnect_needed"
    from sqlmodel import select

    from engine.db import session_scope
    from engine.models import AuditLog

    with session_scope() as session:
        row = session.exec(select(AuditLog).where(AuditLog.action == "connection.reconnect_needed")).one()
        assert row.object_id == conn.id and row.workspace_id == who.workspace_id and "invalid_grant" in str(row.changes)
    calls = server.refresh_calls
    with pytest.raises(ReconnectNeeded):
        _find(who.workspace_id)
    assert server.refresh_calls == calls  # fails fast, no second refresh attempt

    # Reconnect: the same connection gets fresh tokens and is healthy again.
    r = who.client.get("/oauth/start", params={"type": "xero", "connection_id": conn.id}, follow_redirects=False)
    answer = approve(r.headers["location"])
    assert who.client.get("/oauth/callback", params=answer, follow_redirects=False).status_code == 303
    assert _grant(conn.id).status == "ok" and _find(who.workspace_id)["found"] is False


def test_reconnect_needed_fails_the_step_without_retries(who: SignedIn, server: FakeOAuth) -> None:
    from integ_helpers import one_step_workflow, run_now

    connect(who, server)
    conn = connection_row(who.workspace_id, "xero")
    server.revoked_grants.update(e["grant"] for e in server.refresh.values())
    _set_grant_expiry(conn.id, 5)
    wf = one_step_workflow(who.workspace_id, "xero.find_contact", {"connection": "xero", "email": "a@b.co"},
                           max_attempts=3)
    run = run_now(wf, who.workspace_id, "manual", {})
    assert run["status"] == "failed"
    step = run["steps"][0]
    assert step["attempts"] == 1 and "needs to be reconnected to Xero" in step["error"]


def test_connection_test_reports_the_organisation_and_reconnect_needed(who: SignedIn, server: FakeOAuth) -> None:
    from engine.db import session_scope
    from engine.services.actor import Actor
    from engine.services.connections import test_connection

    connect(who, server)
    conn = connection_row(who.workspace_id, "xero")
    with session_scope() as session:
        ok = test_connection(session, Actor.system(who.workspace_id), conn.id)
    assert ok["ok"] is True and ok["message"] == "Connected to Harbour Bakery Pty Ltd"
    server.revoked_grants.update(e["grant"] for e in server.refresh.values())
    _set_grant_expiry(conn.id, 0)
    with session_scope() as session:
        bad = test_connection(session, Actor.system(who.workspace_id), conn.id)
    assert bad["ok"] is False and "needs to be reconnected to Xero" in bad["message"]


def test_refused_refresh_mails_the_owner_once_not_once_per_run(who: SignedIn, server: FakeOAuth) -> None:
    from integ_helpers import one_step_workflow, run_now
    from sqlmodel import select

    from engine.crypto import decrypt_json
    from engine.db import session_scope
    from engine.models import SystemMail

    connect(who, server)
    conn = connection_row(who.workspace_id, "xero")
    server.revoked_grants.update(e["grant"] for e in server.refresh.values())
    _set_grant_expiry(conn.id, 5)
    wf = one_step_workflow(who.workspace_id, "xero.find_contact", {"connection": "xero", "email": "a@b.co"})
    for _ in range(3):  # three runs hit the dead connection
        assert run_now(wf, who.workspace_id, "manual", {})["status"] == "failed"
    with session_scope() as session:
        mails = session.exec(select(SystemMail).where(SystemMail.kind == "reconnect_needed")).all()
        assert len(mails) == 1
        mail = mails[0]
        assert mail.to_email == "owner@bakery.example" and mail.workspace_id == who.workspace_id
        assert "Reconnect “xero” (Xero)" in mail.subject and "Harbour Bakery" in mail.subject
        body = decrypt_json(mail.body_encrypted)["text"] if mail.body_encrypted else ""
    if body:  # still queued: the body names the reason and links to Connections
        assert "invalid_grant" in body and "/connections" in body

    # Reconnected, then refused again the same day: the owner is not mailed again at once.
    r = who.client.get("/oauth/start", params={"type": "xero", "connection_id": conn.id}, follow_redirects=False)
    assert who.client.get("/oauth/callback", params=approve(r.headers["location"]),
                          follow_redirects=False).status_code == 303
    server.revoked_grants.update(e["grant"] for e in server.refresh.values())
    _set_grant_expiry(conn.id, 5)
    assert run_now(wf, who.workspace_id, "manual", {})["status"] == "failed"
    assert _grant(conn.id).status == "reconnect_needed"
    with session_scope() as session:
        assert len(session.exec(select(SystemMail).where(SystemMail.kind == "reconnect_needed")).all()) == 1
