"""The second sign-in step over HTTP (/auth/login → /auth/mfa, /auth/mfa/setup, SSO → /login/mfa)
and the rate limits of the account flows (/auth/forgot, /auth/oidc/*, invitation sign-up)."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from conftest import ApiCtx
from oidc_provider import LocalOidcProvider

from engine.db import session_scope
from engine.models import Role, User
from engine.services import accounts, mfa
from engine.services.actor import Actor
from engine.services.sessions import COOKIE_NAME
from flowmate_app.session_cookie import MFA_COOKIE

PASSWORD = "correct horse battery"


def _user(api: ApiCtx, email: str, role: str = "editor") -> str:
    with session_scope() as s:
        return accounts.create_user(s, email, PASSWORD, accounts.get_workspace_by_slug(s, api.a.slug), role=role).id


def _enable(user_id: str) -> tuple[pyotp.TOTP, list[str]]:
    with session_scope() as s:
        setup = mfa.begin_setup(s, s.get(User, user_id))
    totp = pyotp.TOTP(setup.secret)
    with session_scope() as s:
        return totp, mfa.confirm_setup(s, s.get(User, user_id), totp.now())


def _login(client, email: str, ip: str | None = None):
    return client.post("/auth/login", data={"email": email, "password": PASSWORD, "next": "/runs"},
                       headers={"X-Forwarded-For": ip} if ip else {})


def test_with_mfa_the_password_alone_gives_no_session(api: ApiCtx) -> None:
    user_id = _user(api, "mona@example.com")
    totp, codes = _enable(user_id)
    first = _login(api.client, "mona@example.com")
    assert first.status_code == 200 and first.json()["mfa"] is True
    assert first.json()["next"] == "/login/mfa?next=%2Fruns"
    assert MFA_COOKIE in api.client.cookies and COOKIE_NAME not in api.client.cookies
    assert api.client.get("/api/v1/workflows").status_code == 401  # nothing usable yet

    wrong = api.client.post("/auth/mfa", data={"code": "000000"})
    assert wrong.status_code == 401 and "not correct" in wrong.json()["error"]["message"]
    assert COOKIE_NAME not in api.client.cookies
    ok = api.client.post("/auth/mfa", data={"code": totp.at(time.time() + 30), "next": "/runs"})
    assert ok.status_code == 200 and ok.json() == {"ok": True, "next": "/runs", "used": "totp"}
    assert COOKIE_NAME in api.client.cookies and MFA_COOKIE not in api.client.cookies
    assert "httponly" in ok.headers["set-cookie"].lower()
    assert api.client.get("/api/v1/workflows").status_code == 200

    # A recovery code works once.
    api.client.cookies.clear()
    _login(api.client, "mona@example.com")
    assert api.client.post("/auth/mfa", data={"code": codes[0]}).json()["used"] == "recovery"
    api.client.cookies.clear()
    _login(api.client, "mona@example.com")
    assert api.client.post("/auth/mfa", data={"code": codes[0]}).status_code == 401


def test_the_code_step_needs_the_pending_cookie_and_counts_toward_the_lockout(api: ApiCtx) -> None:
    user_id = _user(api, "lock@example.com")
    _enable(user_id)
    expired = api.client.post("/auth/mfa", data={"code": "123456"})
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "mfa_expired"
    api.client.cookies.set(MFA_COOKIE, "forged-value")
    assert api.client.post("/auth/mfa", data={"code": "123456"}).status_code == 401
    api.client.cookies.clear()
    _login(api.client, "lock@example.com")
    answers = [api.client.post("/auth/mfa", data={"code": "000000"}).status_code for _ in range(6)]
    assert answers[:5] == [401] * 5 and answers[5] == 429  # 5 failures per account and client


def test_workspace_required_mfa_is_set_up_before_the_first_session(api: ApiCtx) -> None:
    owner_id = _user(api, "otto@example.com", role="owner")
    member_id = _user(api, "meg@example.com")
    _enable(owner_id)
    with session_scope() as s:
        mfa.set_workspace_requirement(s, Actor(api.a.id, Role.owner, "user:otto@example.com", owner_id), True)
    _login(api.client, "meg@example.com")
    assert COOKIE_NAME not in api.client.cookies
    assert api.client.post("/auth/mfa", data={"code": "123456"}).status_code == 409
    with session_scope() as s:  # what /login/mfa does when it opens
        secret = mfa.begin_setup(s, s.get(User, member_id)).secret
    done = api.client.post("/auth/mfa/setup", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and len(done.json()["recovery_codes"]) == 10
    assert COOKIE_NAME in api.client.cookies
    assert api.client.get("/api/v1/workflows").status_code == 200


def test_the_sixth_rapid_forgot_from_one_ip_gets_429(monkeypatch: pytest.MonkeyPatch, api_factory) -> None:
    monkeypatch.setenv("FLOWMATE_TRUSTED_PROXY_HOPS", "1")
    api = api_factory()
    ip = {"X-Forwarded-For": "203.0.113.5"}
    for i in range(5):
        r = api.client.post("/auth/forgot", data={"email": f"someone{i}@example.com"}, headers=ip)
        assert r.status_code == 200 and "If an account uses this address" in r.json()["message"]
    sixth = api.client.post("/auth/forgot", data={"email": "another@example.com"}, headers=ip)
    assert sixth.status_code == 429 and int(sixth.headers["retry-after"]) > 0
    assert "Too many reset requests" in sixth.json()["error"]["message"]
    other = api.client.post("/auth/forgot", data={"email": "another@example.com"},
                            headers={"X-Forwarded-For": "198.51.100.4"})
    assert other.status_code == 200
    # Per address too, whether or not an account uses it, from any network.
    for n in range(4):
        api.client.post("/auth/forgot", data={"email": "another@example.com"},
                        headers={"X-Forwarded-For": f"192.0.2.{n + 10}"})
    capped = api.client.post("/auth/forgot", data={"email": "another@example.com"},
                             headers={"X-Forwarded-For": "192.0.2.99"})
    assert capped.status_code == 429


def test_oidc_endpoints_and_invitation_signup_are_rate_limited(monkeypatch: pytest.MonkeyPatch,
                                                              api_factory) -> None:
    monkeypatch.setenv("FLOWMATE_OIDC_RATE_LIMIT", "3/minute")
    monkeypatch.setenv("FLOWMATE_ACCOUNT_RATE_LIMIT", "2/minute")
    api = api_factory()
    starts = [api.client.get("/auth/oidc/nowhere/start", follow_redirects=False) for _ in range(4)]
    assert [r.status_code for r in starts[:3]] == [303] * 3
    assert starts[3].status_code == 429 and int(starts[3].headers["retry-after"]) > 0
    assert "Too many sign-in attempts" in starts[3].text
    assert api.client.get("/auth/oidc/nowhere/callback?state=x&code=y").status_code == 429
    forms = [api.client.post("/auth/invitations/signup", data={"token": "fmi_nope", "password": "long enough 1"},
                             follow_redirects=False) for _ in range(3)]
    assert [r.headers["location"].rsplit("=", 1)[1] for r in forms] == ["unknown", "unknown", "rate_limited"]
    assert int(forms[2].headers["retry-after"]) > 0


@pytest.fixture
def sso(monkeypatch: pytest.MonkeyPatch, api_factory):
    from engine.services import oidc

    provider = LocalOidcProvider()
    monkeypatch.setenv("FLOWMATE_OIDC_PROVIDERS", json.dumps([provider.provider_config()]))
    oidc.clear_caches()
    yield provider, api_factory()
    provider.close()
    oidc.clear_caches()


def test_an_sso_sign_in_asks_for_the_code_too(sso) -> None:
    provider, api = sso
    user_id = _user(api, "sue@example.com")
    totp, _ = _enable(user_id)
    provider.user = {"sub": "s-1", "email": "sue@example.com", "email_verified": True, "name": "Sue"}
    start = api.client.get("/auth/oidc/localidp/start?next=/runs", follow_redirects=False)
    back = httpx.get(start.headers["location"], follow_redirects=False).headers["location"]
    parts = urlsplit(back)
    done = api.client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/login/mfa?next=%2Fruns"
    assert MFA_COOKIE in api.client.cookies and COOKIE_NAME not in api.client.cookies
    assert parse_qs(urlsplit(done.headers["location"]).query)["next"] == ["/runs"]
    ok = api.client.post("/auth/mfa", data={"code": totp.at(time.time() + 30)})
    assert ok.status_code == 200 and COOKIE_NAME in api.client.cookies
