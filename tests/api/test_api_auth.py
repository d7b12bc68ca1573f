"""POST /auth/login, /auth/signup, /auth/logout: the cookie, rotation, sign-up modes, throttles and
answers that never tell which accounts exist (FastAPI app on a real database)."""

from __future__ import annotations

import statistics
import time
import uuid
from http.cookies import SimpleCookie

import pytest
from conftest import ApiCtx
from sqlmodel import func, select

from engine.db import session_scope
from engine.models import UserSession, Workspace
from engine.services.accounts import create_user, get_workspace_by_slug
from engine.services.sessions import COOKIE_NAME

PASSWORD = "correct horse battery"


def _cookie(response) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    jar.load(response.headers["set-cookie"])
    return jar


def _signup(client, email: str, **extra: str):
    return client.post("/auth/signup", data={"email": email, "password": PASSWORD, **extra})


def _login(client, email: str, password: str = PASSWORD, ip: str | None = None):
    headers = {"X-Forwarded-For": ip} if ip else {}
    return client.post("/auth/login", data={"email": email, "password": password}, headers=headers)


def _user(api: ApiCtx, email: str) -> None:
    with session_scope() as s:
        create_user(s, email, PASSWORD, get_workspace_by_slug(s, api.a.slug), role="editor")


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch, api_factory) -> ApiCtx:
    """One trusted proxy: X-Forwarded-For names the client, so a test can be several clients."""
    monkeypatch.setenv("FLOWMATE_TRUSTED_PROXY_HOPS", "1")
    monkeypatch.setenv("FLOWMATE_LOGIN_RATE_LIMIT", "1000/minute")  # these tests are about lockouts
    return api_factory()


def test_signup_sets_an_httponly_lax_cookie_that_signs_in(api: ApiCtx) -> None:
    r = _signup(api.client, "new@example.com.au", name="Nia", workspace="Nia's Nursery")
    assert r.status_code == 201, r.text
    morsel = _cookie(r)[COOKIE_NAME]
    assert morsel["httponly"] and morsel["samesite"].lower() == "lax" and morsel["path"] == "/"
    assert int(morsel["max-age"]) == 14 * 24 * 3600
    assert not morsel["secure"]  # FLOWMATE_ENV=test over plain http
    assert api.client.get("/api/v1/workflows").status_code == 200
    out = api.client.post("/auth/logout")
    assert out.status_code == 200 and _cookie(out)[COOKIE_NAME].value == ""
    api.client.cookies.set(COOKIE_NAME, morsel.value)
    assert api.client.get("/api/v1/workflows").status_code == 401  # the session itself ended


def test_cookie_is_secure_in_production(monkeypatch: pytest.MonkeyPatch, api_factory) -> None:
    monkeypatch.setenv("FLOWMATE_ENV", "production")
    monkeypatch.setenv("FLOWMATE_SECRET_KEY", "p" * 40)
    monkeypatch.setenv("FLOWMATE_SIGNUP", "open")  # production defaults to invitation-only sign-up
    ctx = api_factory()
    r = _signup(ctx.client, "prod@example.com.au")
    assert r.status_code == 201, r.text
    assert _cookie(r)[COOKIE_NAME]["secure"]
    assert _cookie(ctx.client.post("/auth/logout"))[COOKIE_NAME]["secure"]


def test_login_rotates_the_session_and_revokes_the_planted_one(api: ApiCtx) -> None:
    _user(api, "rota@example.com")
    first = _login(api.client, "rota@example.com")
    assert first.status_code == 200, first.text
    planted = _cookie(first)[COOKIE_NAME].value
    api.client.cookies.set(COOKIE_NAME, planted)
    second = _login(api.client, "rota@example.com")
    fresh = _cookie(second)[COOKIE_NAME].value
    assert fresh and fresh != planted
    api.client.cookies.set(COOKIE_NAME, planted)
    assert api.client.get("/api/v1/workflows").status_code == 401
    api.client.cookies.set(COOKIE_NAME, fresh)
    assert api.client.get("/api/v1/workflows").status_code == 200


def test_login_refuses_cross_site_posts_and_bad_input(api: ApiCtx) -> None:
    _user(api, "csrf@example.com")
    evil = api.client.post("/auth/login", data={"email": "csrf@example.com", "password": PASSWORD},
                           headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and "set-cookie" not in evil.headers
    empty = api.client.post("/auth/login", json={"email": "", "password": ""})
    assert empty.status_code == 422 and set(empty.json()["error"]["fields"]) == {"email", "password"}
    assert api.client.post("/auth/login", content=b"{nope", headers={"content-type": "application/json"}
                           ).status_code == 400
    assert api.client.post("/auth/login", content=b"x" * 20_000).status_code == 413


@pytest.mark.parametrize("mode", ["open", "invite", "closed"])
def test_signup_modes(monkeypatch: pytest.MonkeyPatch, api_factory, mode: str) -> None:
    monkeypatch.setenv("FLOWMATE_SIGNUP", mode)
    ctx = api_factory()
    with session_scope() as s:
        before = s.exec(select(func.count()).select_from(Workspace)).one()
    r = _signup(ctx.client, f"{mode}@example.com")
    with session_scope() as s:
        after = s.exec(select(func.count()).select_from(Workspace)).one()
    if mode == "open":
        assert r.status_code == 201 and after == before + 1
        return
    assert r.status_code == 403 and after == before and "set-cookie" not in r.headers
    message = r.json()["error"]["message"]
    assert ("invitation" in message) if mode == "invite" else ("closed" in message)


def test_signup_is_throttled_per_client(monkeypatch: pytest.MonkeyPatch, proxied) -> None:
    monkeypatch.setenv("FLOWMATE_SIGNUP_RATE_LIMIT", "3/hour")
    from engine.config import get_settings

    get_settings.cache_clear()
    client = proxied.client
    for i in range(3):
        ok = client.post("/auth/signup", data={"email": f"s{i}@example.com", "password": PASSWORD},
                         headers={"X-Forwarded-For": "203.0.113.7"})
        assert ok.status_code == 201, ok.text
        client.cookies.clear()
    fourth = client.post("/auth/signup", data={"email": "s4@example.com", "password": PASSWORD},
                         headers={"X-Forwarded-For": "203.0.113.7"})
    assert fourth.status_code == 429 and int(fourth.headers["retry-after"]) > 0
    other = client.post("/auth/signup", data={"email": "s5@example.com", "password": PASSWORD},
                        headers={"X-Forwarded-For": "198.51.100.9"})
    assert other.status_code == 201


def test_signup_with_a_taken_email_answers_neutrally(api: ApiCtx) -> None:
    _user(api, "taken@example.com")
    with session_scope() as s:
        before = s.exec(select(func.count()).select_from(Workspace)).one()
    r = _signup(api.client, "Taken@Example.com", workspace="Shadow Co")
    assert r.status_code == 403 and "set-cookie" not in r.headers
    message = r.json()["error"]["message"]
    assert "exist" not in message.lower() and "already have an account" in message
    with session_scope() as s:
        assert s.exec(select(func.count()).select_from(Workspace)).one() == before  # rolled back


def test_wrong_password_and_unknown_email_look_the_same(monkeypatch: pytest.MonkeyPatch, api_factory) -> None:
    monkeypatch.setenv("FLOWMATE_LOGIN_FAILURES_PER_CLIENT", "1000/minute")
    monkeypatch.setenv("FLOWMATE_LOGIN_FAILURES_PER_ACCOUNT", "1000/minute")
    monkeypatch.setenv("FLOWMATE_LOGIN_RATE_LIMIT", "1000/minute")
    monkeypatch.setenv("FLOWMATE_LOGIN_ACCOUNT_RATE_LIMIT", "1000/minute")
    ctx = api_factory()
    _user(ctx, "real@example.com")
    times: dict[str, list[float]] = {"real": [], "ghost": []}
    bodies = set()
    for _ in range(6):
        for who, email in (("real", "real@example.com"), ("ghost", f"ghost-{uuid.uuid4().hex[:6]}@example.com")):
            t0 = time.perf_counter()
            r = _login(ctx.client, email, "not the password")
            times[who].append(time.perf_counter() - t0)
            bodies.add((r.status_code, r.text))
    assert bodies == {(401, '{"error":{"code":"invalid_credentials","message":"Invalid email or password.",'
                            '"fields":{}}}')}
    # Both pay one argon2 check: the medians are the same within noise (an unknown email
    # answered without hashing would be ~50x faster).
    ratio = statistics.median(times["ghost"]) / statistics.median(times["real"])
    assert 0.25 < ratio < 4.0, times


def test_lockout_is_per_account_and_client_and_hides_which_accounts_exist(proxied: ApiCtx) -> None:
    _user(proxied, "victim@example.com")
    attacker, victim_ip = "203.0.113.66", "198.51.100.20"
    answers = {}
    for email in ("victim@example.com", "nobody-here@example.com"):
        for _ in range(5):
            assert _login(proxied.client, email, "guess", ip=attacker).status_code == 401
        locked = _login(proxied.client, email, PASSWORD, ip=attacker)  # even the right password now
        assert locked.status_code == 429 and "set-cookie" not in locked.headers
        answers[email] = (locked.status_code, locked.json(), int(locked.headers["retry-after"]))
    # A made-up address locks exactly like a real one: the answer tells nothing.
    (real_status, real_body, real_wait), (ghost_status, ghost_body, ghost_wait) = answers.values()
    assert (real_status, real_body) == (ghost_status, ghost_body) and abs(real_wait - ghost_wait) <= 3
    assert "Too many failed attempts" in answers["victim@example.com"][1]["error"]["message"]
    # The real person, from their own network, is not locked out by the attacker's guesses.
    assert _login(proxied.client, "victim@example.com", ip=victim_ip).status_code == 200


def test_one_client_guessing_many_accounts_is_locked(monkeypatch: pytest.MonkeyPatch, proxied) -> None:
    monkeypatch.setenv("FLOWMATE_LOGIN_FAILURES_PER_CLIENT", "4/minute")
    from engine.config import get_settings

    get_settings.cache_clear()
    _user(proxied, "spray@example.com")
    for i in range(4):
        assert _login(proxied.client, f"user{i}@example.com", "Winter2026!", ip="203.0.113.5").status_code == 401
    assert _login(proxied.client, "spray@example.com", ip="203.0.113.5").status_code == 429
    assert _login(proxied.client, "spray@example.com", ip="203.0.113.99").status_code == 200


def test_lockout_counters_are_shared_through_redis(sqlite_db, redis_env) -> None:
    """Two web processes (two throttle instances) see the same failures when Redis is configured."""
    from engine import auth_limits
    from engine.config import get_settings

    auth_limits._instances.clear()
    assert get_settings().redis_url
    first = auth_limits.throttles()
    for _ in range(5):
        first.login_failed("shared@example.com", "203.0.113.1")
    auth_limits._instances.clear()  # a fresh process would build its own instance
    get_settings.cache_clear()
    assert auth_limits.throttles() is not first
    assert auth_limits.throttles().login_retry_after("shared@example.com", "203.0.113.1") > 0


def test_sessions_are_stored_hashed(api: ApiCtx) -> None:
    r = _signup(api.client, "hash@example.com")
    token = _cookie(r)[COOKIE_NAME].value
    with session_scope() as s:
        hashes = s.exec(select(UserSession.token_hash)).all()
    assert hashes and token not in hashes


def test_the_sixth_rapid_login_from_one_ip_gets_429(api: ApiCtx) -> None:
    """Rapid attempts are refused even when they are right (default 5/minute per client IP)."""
    _user(api, "rapid@example.com")
    for _ in range(5):
        assert _login(api.client, "rapid@example.com").status_code == 200
    sixth = _login(api.client, "rapid@example.com")
    assert sixth.status_code == 429 and int(sixth.headers["retry-after"]) > 0
    assert "Too many sign-in attempts" in sixth.json()["error"]["message"]


def test_api_calls_are_limited_per_token(monkeypatch: pytest.MonkeyPatch, api_factory) -> None:
    monkeypatch.setenv("FLOWMATE_API_RATE_LIMIT", "3/minute")
    ctx = api_factory()
    for remaining in (2, 1, 0):
        ok = ctx.get("/api/v1/workflows", role="editor")
        assert ok.status_code == 200
        assert (ok.headers["ratelimit-limit"], ok.headers["ratelimit-remaining"]) == ("3", str(remaining))
    over = ctx.get("/api/v1/workflows", role="editor")
    assert over.status_code == 429 and over.json()["error"]["code"] == "too_many_requests"
    assert 0 < int(over.headers["retry-after"]) <= 60 and over.headers["ratelimit-remaining"] == "0"
    assert int(over.headers["ratelimit-reset"]) > 0
    assert ctx.get("/api/v1/workflows", role="viewer").status_code == 200  # another token is unaffected


def test_password_checks_run_on_the_bounded_pool_not_the_event_loop(api: ApiCtx,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from engine import passwords

    seen: list[str] = []
    real = passwords.verify_password

    def spy(stored: str, password: str) -> bool:
        seen.append(threading.current_thread().name)
        return real(stored, password)

    monkeypatch.setattr(passwords, "verify_password", spy)
    _user(api, "pool@example.com")
    assert _login(api.client, "pool@example.com").status_code == 200
    assert seen and all(name.startswith("flowmate-argon2") for name in seen)


def test_a_full_password_queue_answers_503_at_once(monkeypatch: pytest.MonkeyPatch, sqlite_db) -> None:
    import asyncio
    import threading

    from engine import passwords
    from engine.config import get_settings

    monkeypatch.setenv("FLOWMATE_PASSWORD_HASH_THREADS", "1")
    monkeypatch.setenv("FLOWMATE_PASSWORD_HASH_QUEUE", "1")
    get_settings.cache_clear()
    release = threading.Event()

    async def scenario() -> list[object]:
        running = asyncio.ensure_future(passwords.run_bounded(release.wait, 10))
        waiting = asyncio.ensure_future(passwords.run_bounded(lambda: "second"))
        await asyncio.sleep(0.1)
        with pytest.raises(passwords.PasswordWorkBusy):
            await passwords.run_bounded(lambda: "third")
        release.set()
        return [await running, await waiting]

    assert asyncio.run(scenario()) == [True, "second"]


def test_logins_and_lockout_keep_working_while_redis_is_down(monkeypatch: pytest.MonkeyPatch, api_factory) -> None:
    """Nothing listens on the configured Redis port: counters fall back to this process."""
    import socket

    from engine import auth_limits

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # free: nothing listens there
    monkeypatch.setenv("FLOWMATE_REDIS_URL", f"redis://127.0.0.1:{closed}/0")
    monkeypatch.setattr(auth_limits, "_redis_down_until", [0.0])
    ctx = api_factory()
    _user(ctx, "offline@example.com")
    assert _login(ctx.client, "offline@example.com").status_code == 200
    for _ in range(4):
        assert _login(ctx.client, "offline@example.com", "wrong").status_code == 401
    assert _login(ctx.client, "offline@example.com", "wrong").status_code == 429  # 6th attempt this minute
