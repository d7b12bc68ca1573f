"""Webhook intake as a sending system sees it: auth, idempotency, limits, bodies reaching the run."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from api_helpers_hooks import run_row
from conftest import _client, make_tenant, simple_workflow


@pytest.fixture
def api(any_api: Any) -> Any:
    """Every webhook test here runs on SQLite and on PostgreSQL."""
    return any_api


def _sign(secret: str, body: bytes, t: int | None = None) -> str:
    t = int(time.time()) if t is None else t
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def _hook(api: Any, auth: dict[str, Any] | None = None, methods: list[str] | None = None) -> str:
    config: dict[str, Any] = {}
    if auth:
        config["auth"] = auth
    if methods:
        config["methods"] = methods
    wf = api.create_workflow(simple_workflow(trigger={"type": "webhook", "config": config}))
    assert wf["webhook_path"].startswith("/hooks/")
    return wf["webhook_path"]


def test_json_body_accepted_and_reaches_run(api) -> None:
    path = _hook(api)
    r = api.client.post(path, json={"email": "zoë@example.com", "n": 3}, headers={"X-Custom": "1"})
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    run = run_row(run_id)
    assert run.status == "queued"
    assert run.trigger_type == "webhook"
    assert run.trigger_payload["body"] == {"email": "zoë@example.com", "n": 3}
    assert run.trigger_payload["method"] == "POST"
    assert run.trigger_payload["headers"]["x-custom"] == "1"
    # the API answers the same run shape
    shown = api.get(f"/api/v1/runs/{run_id}").json()
    assert shown["trigger"]["body"]["email"] == "zoë@example.com"


def test_form_and_text_bodies_intact_with_unicode(api) -> None:
    path = _hook(api)
    form = {"name": "Zoë Ångström", "city": "Zürich 東京", "tags": "a&b=c"}
    r = api.client.post(path, data=form)
    assert r.status_code == 202, r.text
    assert run_row(r.json()["run_id"]).trigger_payload["body"] == form

    text = "plain text ✓ — ünïcödé\nsecond line"
    r = api.client.post(path, content=text.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
    assert r.status_code == 202
    assert run_row(r.json()["run_id"]).trigger_payload["body"] == text

    r = api.client.post(path, files={"upload": ("a.txt", b"hello", "text/plain")}, data={"who": "Zoë"})
    assert r.status_code == 202
    body = run_row(r.json()["run_id"]).trigger_payload["body"]
    assert body["who"] == "Zoë"
    assert body["upload"] == {"filename": "a.txt", "content_type": "text/plain", "size": 5}


def test_get_and_put_only_when_configured(api) -> None:
    post_only = _hook(api)
    assert api.client.get(post_only).status_code == 405
    both = _hook(api, methods=["GET", "PUT"])
    r = api.client.get(both + "?email=a%40b.c&x=1")
    assert r.status_code == 202
    assert run_row(r.json()["run_id"]).trigger_payload["query"] == {"email": "a@b.c", "x": "1"}
    assert api.client.put(both, json={"k": 1}).status_code == 202
    assert api.client.post(both, json={}).status_code == 405


def test_unknown_token_and_disabled_workflow_are_404(api) -> None:
    assert api.client.post("/hooks/does-not-exist", json={}).status_code == 404
    wf = api.create_workflow()
    assert api.client.post(wf["webhook_path"], json={}).status_code == 202  # the lookup is now memoised
    assert api.post(f"/api/v1/workflows/{wf['id']}/disable").status_code == 200
    r = api.client.post(wf["webhook_path"], json={})  # ...and disabling takes effect at once
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_hmac_valid_invalid_expired_replayed(api) -> None:
    secret = f"s3cret-signing-key-{uuid.uuid4().hex}"  # signatures are remembered process-wide
    path = _hook(api, auth={"type": "hmac", "secret": secret})
    body = json.dumps({"order": 42}).encode()
    headers = {"Content-Type": "application/json"}

    def post(sig: str | None, data: bytes = body) -> Any:
        extra = {"X-FlowMate-Signature": sig} if sig else {}
        return api.client.post(path, content=data, headers={**headers, **extra})

    sig = _sign(secret, body)
    ok = api.client.post(path, content=body, headers={**headers, "X-FlowMate-Signature": sig})
    assert ok.status_code == 202, ok.text
    payload = run_row(ok.json()["run_id"]).trigger_payload
    assert "x-flowmate-signature" not in payload["headers"]

    replay = api.client.post(path, content=body, headers={**headers, "X-FlowMate-Signature": sig})
    assert replay.status_code == 401
    assert "already used" in replay.json()["error"]["message"]

    wrong = api.client.post(path, content=body, headers={**headers, "X-FlowMate-Signature": _sign("nope", body)})
    assert wrong.status_code == 401
    assert post(_sign(secret, body), body + b" ").status_code == 401  # tampered body
    expired = _sign(secret, body, t=int(time.time()) - 301)
    r = api.client.post(path, content=body, headers={**headers, "X-FlowMate-Signature": expired})
    assert r.status_code == 401 and "window" in r.json()["error"]["message"]
    future = _sign(secret, body, t=int(time.time()) + 302)  # int() rounds down: +302 is always > 300 s ahead
    assert api.client.post(path, content=body, headers={**headers, "X-FlowMate-Signature": future}).status_code == 401
    assert api.client.post(path, content=body, headers=headers).status_code == 401
    assert post("garbage").status_code == 401
    # a fresh signature (new timestamp) of the same body is fine
    fresh = _sign(secret, body, t=int(time.time()) - 5)
    assert api.client.post(path, content=body, headers={**headers, "X-FlowMate-Signature": fresh}).status_code == 202


def test_header_token_and_basic_auth(api) -> None:
    path = _hook(api, auth={"type": "header", "header_name": "X-Hook-Key", "token": "tok-123"})
    assert api.client.post(path, json={}).status_code == 401
    assert api.client.post(path, json={}, headers={"X-Hook-Key": "tok-12"}).status_code == 401
    r = api.client.post(path, json={}, headers={"X-Hook-Key": "tok-123"})
    assert r.status_code == 202
    assert "x-hook-key" not in run_row(r.json()["run_id"]).trigger_payload["headers"]

    path = _hook(api, auth={"type": "basic", "username": "zapier", "password": "pa55word"})

    def basic(user: str, pw: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}

    r = api.client.post(path, json={})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert api.client.post(path, json={}, headers=basic("zapier", "wrong")).status_code == 401
    assert api.client.post(path, json={}, headers=basic("other", "pa55word")).status_code == 401
    r = api.client.post(path, json={}, headers=basic("zapier", "pa55word"))
    assert r.status_code == 202
    assert "authorization" not in run_row(r.json()["run_id"]).trigger_payload["headers"]


def test_secrets_never_returned(api) -> None:
    wf = api.create_workflow(simple_workflow(trigger={"type": "webhook",
                                                      "config": {"auth": {"type": "hmac", "secret": "TOPSECRET1"}}}))
    for path in (f"/api/v1/workflows/{wf['id']}", f"/api/v1/workflows/{wf['id']}/export", "/api/v1/workflows",
                 "/api/v1/audit"):
        text = api.get(path).text
        assert "TOPSECRET1" not in text, path
    assert wf["trigger"]["secret_set"] is True


def test_idempotency_replay_and_conflict(api) -> None:
    path = _hook(api)
    first = api.client.post(path, json={"a": 1}, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == 202
    again = api.client.post(path, json={"a": 1}, headers={"Idempotency-Key": "order-1"})
    assert again.status_code == 200
    assert again.json()["run_id"] == first.json()["run_id"]
    conflict = api.client.post(path, json={"a": 2}, headers={"Idempotency-Key": "order-1"})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "conflict"
    other = api.client.post(path, json={"a": 2}, headers={"Idempotency-Key": "order-2"})
    assert other.status_code == 202 and other.json()["run_id"] != first.json()["run_id"]
    from sqlmodel import select

    from engine.db import session_scope
    from engine.models import Run

    with session_scope() as s:
        assert len(s.exec(select(Run)).all()) == 2


def test_idempotency_key_forgotten_after_24h(api) -> None:
    from sqlalchemy import update

    from engine.db import session_scope, utcnow
    from engine.models import Run
    from engine.services.runs import IDEMPOTENCY_TTL, expire_idempotency_keys

    path = _hook(api)
    first = api.client.post(path, json={"a": 1}, headers={"Idempotency-Key": "k"}).json()["run_id"]
    with session_scope() as s:
        s.exec(update(Run).where(Run.id == first).values(created_at=utcnow() - IDEMPOTENCY_TTL * 1.1))
    with session_scope() as s:
        assert expire_idempotency_keys(s) == 1
    r = api.client.post(path, json={"a": 2}, headers={"Idempotency-Key": "k"})
    assert r.status_code == 202 and r.json()["run_id"] != first


def test_body_over_limit_is_413_without_buffering(api) -> None:
    path = _hook(api)
    big = b"x" * (2 * 1024 * 1024)
    r = api.client.post(path, content=big, headers={"Content-Type": "text/plain"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"

    # No Content-Length (chunked): the stream is cut off as soon as it passes the limit.
    sent = {"n": 0}

    def chunks() -> Any:
        for _ in range(64):
            sent["n"] += 1
            yield b"y" * 65536

    r = api.client.post(path, content=chunks(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 413
    # exactly 1 MiB fits
    ok = api.client.post(path, content=b"z" * (1024 * 1024), headers={"Content-Type": "text/plain"})
    assert ok.status_code == 202


def test_stream_stops_reading_past_limit() -> None:
    """The intake reads at most limit + one chunk, then answers (the rest is never pulled)."""
    import asyncio

    from starlette.requests import Request

    from flowmate_app.api.errors import ApiError
    from flowmate_app.api.hooks import _read_body

    pulled = {"n": 0}

    async def receive() -> dict[str, Any]:
        pulled["n"] += 1
        return {"type": "http.request", "body": b"a" * 65536, "more_body": pulled["n"] < 1000}

    request = Request({"type": "http", "method": "POST", "headers": [], "path": "/hooks/x"}, receive)
    with pytest.raises(ApiError) as err:
        asyncio.run(_read_body(request, 1024 * 1024))
    assert err.value.status == 413
    assert pulled["n"] == 17  # 16 chunks = 1 MiB fit; the 17th passes the limit; 983 never read


def test_rate_limit_per_token_with_retry_after(api_factory, monkeypatch) -> None:
    monkeypatch.setenv("FLOWMATE_WEBHOOK_RATE_PER_SECOND", "5")
    monkeypatch.setenv("FLOWMATE_WEBHOOK_RATE_BURST", "10")
    api = api_factory()
    noisy, quiet = _hook(api), _hook(api)
    codes = [api.client.post(noisy, json={"i": i}).status_code for i in range(25)]
    assert codes[:10] == [202] * 10
    assert codes.count(429) >= 10
    limited = api.client.post(noisy, json={})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 2
    assert limited.json()["error"]["code"] == "rate_limited"
    assert api.client.post(quiet, json={}).status_code == 202  # another token is unaffected


def test_quota_exceeded_is_429_with_clear_message(api) -> None:
    from sqlalchemy import update

    from engine.db import session_scope
    from engine.models import Workspace
    from engine.services import runs as runs_service
    from engine.services.usage import add_usage

    path = _hook(api)
    with session_scope() as s:
        s.exec(update(Workspace).where(Workspace.id == api.a.id).values(monthly_run_quota=5))
        add_usage(s, api.a.id, runs=5)
    runs_service._quota_cache.clear()
    r = api.client.post(path, json={})
    assert r.status_code == 429
    err = r.json()["error"]
    assert err["code"] == "quota_exceeded"
    assert "monthly run allowance" in err["message"]


def test_webhook_metrics_count_outcomes(api) -> None:
    path = _hook(api)
    api.client.post(path, json={})
    api.client.post("/hooks/nope", json={})
    text = api.client.get("/metrics").text
    assert 'flowmate_webhook_requests_total{outcome="accepted"}' in text
    assert 'flowmate_webhook_requests_total{outcome="not_found"}' in text
    assert "flowmate_queue_depth" in text


def test_direct_lane_answers_exactly_like_the_routed_endpoint(api, monkeypatch) -> None:
    """Plain webhook calls skip FastAPI's routing (the fast lane); calls with an Origin header
    take the routed endpoint. A sender must not be able to tell them apart."""
    from flowmate_app.api import hooks

    direct_calls: list[str] = []
    real = hooks.serve_direct

    async def spy(token: str, *args: Any) -> None:
        direct_calls.append(token)
        await real(token, *args)

    monkeypatch.setattr(hooks, "serve_direct", spy)
    open_path = _hook(api)
    guarded = _hook(api, auth={"type": "header", "header_name": "X-Hook-Key", "token": "k-1"})
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", open_path, {"json": {"n": 1}}),
        ("GET", open_path, {}),
        ("POST", guarded, {"json": {}}),
        ("POST", guarded, {"json": {}, "headers": {"X-Hook-Key": "k-1"}}),
        ("POST", "/hooks/no-such-token", {"json": {}}),
        ("POST", open_path, {"content": b"x" * (2 * 1024 * 1024)}),
        ("POST", open_path, {"json": {}, "headers": {"Idempotency-Key": ""}}),
    ]
    for method, path, kwargs in cases:
        answers = []
        for origin in ({}, {"Origin": "https://elsewhere.example"}):
            headers = {**kwargs.get("headers", {}), **origin}
            r = api.client.request(method, path, **{**kwargs, "headers": headers})
            body = r.json()
            if "run_id" in body:
                assert run_row(body["run_id"]).status == "queued"
                body["run_id"] = "<id>"
            kept = {k: r.headers.get(k) for k in ("content-type", "x-content-type-options", "cache-control",
                                                  "content-security-policy", "www-authenticate", "allow")}
            answers.append((r.status_code, body, kept, bool(r.headers.get("x-request-id"))))
        assert answers[0] == answers[1], (method, path)
        assert answers[0][3]
    assert len(direct_calls) == len(cases)  # every call without an Origin header took the fast lane


def test_undecryptable_trigger_secret_is_a_500_naming_the_cause_on_both_paths(api) -> None:
    """A secret no configured key can decrypt (e.g. the key was changed without rotation) is an
    operator problem: a 500 that says so and carries the request id, never a stack trace."""
    from sqlmodel import select

    from engine.db import session_scope
    from engine.models import Trigger
    from engine.services import hook_cache

    path = _hook(api, auth={"type": "header", "header_name": "X-Hook-Key", "token": "k-1"})
    with session_scope() as session:
        trigger = session.exec(select(Trigger).where(Trigger.webhook_token == path.rsplit("/", 1)[1])).one()
        trigger.secret_encrypted = "gAAAAA-not-a-token-any-key-opens"
    hook_cache.forget()
    for origin in ({}, {"Origin": "https://elsewhere.example"}):
        r = api.client.post(path, json={}, headers={"X-Hook-Key": "k-1", **origin})
        assert r.status_code == 500
        error = r.json()["error"]
        assert error["code"] == "internal_error" and "could not be decrypted" in error["message"]
        assert error["request_id"] == r.headers["x-request-id"]
        assert "Traceback" not in r.text


# ------------------------------------------------------------------ hardening: bad input → 4xx


def test_nul_characters_in_json_text_and_form_bodies_round_trip(api) -> None:
    """PostgreSQL's jsonb refuses U+0000: it used to answer 500. Now every body is accepted and
    the run's payload (and the API's view of it) is exactly what was sent, on both databases."""
    path = _hook(api)
    sent = {"name": "a\u0000b", "k\u0000ey": ["\u0000", "x\ufffe0y"]}
    r = api.client.post(path, content=json.dumps(sent), headers={"Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    assert run_row(r.json()["run_id"]).trigger_payload["body"] == sent
    assert api.get(f"/api/v1/runs/{r.json()['run_id']}").json()["trigger"]["body"] == sent

    r = api.client.post(path, content=b"line\x00two", headers={"Content-Type": "text/plain"})
    assert r.status_code == 202, r.text
    assert run_row(r.json()["run_id"]).trigger_payload["body"] == "line\x00two"

    r = api.client.post(path, content=b"who=ann%00bob", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 202, r.text
    assert run_row(r.json()["run_id"]).trigger_payload["body"] == {"who": "ann\x00bob"}


def test_deeply_nested_webhook_body_is_422_naming_the_limit(api) -> None:
    path = _hook(api)
    for depth in (5000, 65):
        body = "[" * depth + "]" * depth
        r = api.client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (depth, r.text)
        assert "64 levels" in r.json()["error"]["message"]
        assert "FLOWMATE_MAX_JSON_DEPTH" in r.json()["error"]["fields"]["body"]
    ok = "[" * 60 + "]" * 60
    assert api.client.post(path, content=ok, headers={"Content-Type": "application/json"}).status_code == 202


def test_api_routes_refuse_oversized_and_too_deep_bodies(api) -> None:
    wf = api.create_workflow(simple_workflow(trigger={"type": "manual", "config": {}}))
    big = {"payload": {"blob": "x" * (3 * 1024 * 1024)}}
    r = api.post(f"/api/v1/workflows/{wf['id']}/runs", big)
    assert r.status_code == 413, r.text
    assert "FLOWMATE_API_MAX_BODY_BYTES" in r.json()["error"]["fields"]["body"]
    huge_definition = simple_workflow(description="d" * 4000)
    huge_definition["steps"][0]["config"]["message"] = "m" * (3 * 1024 * 1024)
    assert api.post("/api/v1/workflows", huge_definition).status_code == 413

    deep: Any = {}
    for _ in range(400):
        deep = {"a": deep}
    r = api.post(f"/api/v1/workflows/{wf['id']}/runs", {"payload": deep})
    assert r.status_code == 422, r.text
    assert "nested more than 64 levels" in r.json()["error"]["message"]
    r = api.client.post("/api/v1/workflows", content="[" * 3000 + "]" * 3000,
                        headers={**api.a.auth(), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.headers["x-request-id"]  # answered inside the API middleware, with its headers


def test_definition_with_deep_config_or_deep_expression_is_422_naming_the_field(api) -> None:
    definition = simple_workflow(trigger={"type": "manual", "config": {}})
    nested: Any = "x"
    for _ in range(70):
        nested = [nested]
    definition["steps"][0]["config"]["data"] = nested
    r = api.post("/api/v1/workflows", definition)
    assert r.status_code == 422, r.text  # the body check answers first on the API ...
    assert "64 levels" in r.json()["error"]["message"]
    from engine.definition import validate_definition
    from engine.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:  # ... and every other way in (CLI, UI import) too
        validate_definition(definition)
    assert "64 levels" in refused.value.fields["steps.0.config"]

    definition = simple_workflow(trigger={"type": "manual", "config": {}})
    definition["steps"][0]["config"]["message"] = "{{ " + "(" * 300 + "1" + ")" * 300 + " }}"
    r = api.post("/api/v1/workflows", definition)
    assert r.status_code == 422, r.text
    assert "nested more than 32 levels" in r.json()["error"]["fields"]["steps.0.config.message"]

    definition = simple_workflow(name="bad\u0000name", trigger={"type": "manual", "config": {}})
    r = api.post("/api/v1/workflows", definition)
    assert r.status_code == 422, r.text
    assert "NUL" in r.json()["error"]["fields"]["name"]


def test_hmac_replay_is_refused_even_after_a_redis_style_flush(api) -> None:
    """Replay markers live in the database: forgetting every in-memory or Redis counter does not
    let the same signature through twice."""
    from engine.ratelimit import _instances

    path = _hook(api, auth={"type": "hmac", "secret": "s3cret-s3cret"})
    body = b'{"n": 1}'
    headers = {"Content-Type": "application/json", "X-FlowMate-Signature": _sign("s3cret-s3cret", body)}
    assert api.client.post(path, content=body, headers=headers).status_code == 202
    _instances.clear()  # as if every process restarted (or Redis was flushed)
    r = api.client.post(path, content=body, headers=headers)
    assert r.status_code == 401
    assert "already used" in r.json()["error"]["message"]


def test_webhooks_accept_while_redis_is_down_and_runs_finish_once_it_is_back(
        sqlite_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A private redis-server that the test stops and restarts: intake answers 202 through the
    outage (per-process rate limit, replay markers in the database, run rows committed), and the
    sweeper enqueues the runs when Redis is back."""
    import shutil
    import socket
    import subprocess

    from engine.config import get_settings
    from engine.db import dispose_engines
    from engine.queue import reset_broker
    from engine.runtime import Runtime
    from flowmate_app.api import build_api

    server_bin = shutil.which("redis-server")
    assert server_bin, "redis-server is needed for this test"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def start_redis() -> subprocess.Popen:
        proc = subprocess.Popen([server_bin, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return proc
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "private redis-server did not start"
                time.sleep(0.05)

    redis_proc = start_redis()
    runtime = None
    try:
        for name, value in {"FLOWMATE_REDIS_URL": f"redis://127.0.0.1:{port}/0",
                            "FLOWMATE_REDIS_NAMESPACE": f"outage-{uuid.uuid4().hex[:6]}",
                            "FLOWMATE_QUEUED_GRACE_SECONDS": "1", "FLOWMATE_SWEEP_INTERVAL_SECONDS": "0.5",
                            "FLOWMATE_HEARTBEAT_SECONDS": "1"}.items():
            monkeypatch.setenv(name, value)
        reset_broker()
        dispose_engines()
        get_settings.cache_clear()
        tenant = make_tenant("Outage")
        with _client(build_api()) as client:
            headers = tenant.auth()
            wf = client.post("/api/v1/workflows", json=simple_workflow(), headers=headers).json()
            signed = client.post("/api/v1/workflows", json=simple_workflow(
                name="Signed", trigger={"type": "webhook", "config": {"auth": {"type": "hmac", "secret": "k3y-k3y"}}}),
                headers=headers).json()

            redis_proc.terminate()
            redis_proc.wait(timeout=10)
            run_ids = []
            for n in range(5):
                r = client.post(wf["webhook_path"], json={"n": n})
                assert r.status_code == 202, r.text
                run_ids.append(r.json()["run_id"])
            body = b'{"signed": true}'
            sig = {"Content-Type": "application/json", "X-FlowMate-Signature": _sign("k3y-k3y", body)}
            r = client.post(signed["webhook_path"], content=body, headers=sig)
            assert r.status_code == 202, r.text
            run_ids.append(r.json()["run_id"])
            assert client.post(signed["webhook_path"], content=body, headers=sig).status_code == 401  # replay
            assert {run_row(r).status for r in run_ids} == {"queued"}

            redis_proc = start_redis()
            runtime = Runtime(threads=2).start()  # on the process's (Redis) broker the intake used
            deadline = time.monotonic() + 30
            while {run_row(r).status for r in run_ids} != {"succeeded"}:
                assert time.monotonic() < deadline, {r: run_row(r).status for r in run_ids}
                time.sleep(0.2)
    finally:
        if runtime is not None:
            runtime.stop(grace_s=5.0)
        reset_broker()
        if redis_proc.poll() is None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
