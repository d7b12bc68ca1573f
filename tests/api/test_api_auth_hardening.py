"""The low-severity holes: role checks in the services (both faces), token revocation by rank,
/metrics behind a token, webhook tokens out of the access log, anti-framing headers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ApiCtx, simple_workflow

from engine.db import session_scope
from engine.errors import Forbidden
from engine.models import ApiToken, Role
from engine.services import connections
from engine.services.actor import Actor

REPO = Path(__file__).resolve().parents[2]


def _token_id(prefix_of: str) -> str:
    with session_scope() as s:
        return next(t.id for t in s.exec(ApiToken.__table__.select()).all() if prefix_of.startswith(t.prefix))


def test_admin_cannot_revoke_an_owner_token_but_an_owner_can(api: ApiCtx) -> None:
    owner_token = _token_id(api.a.tokens["owner"])
    editor_token = _token_id(api.a.tokens["editor"])
    refused = api.client.delete(f"/api/v1/tokens/{owner_token}", headers=api.a.auth("admin"))
    assert refused.status_code == 403 and "owner" in refused.json()["error"]["message"]
    assert api.get("/api/v1/workflows", role="owner").status_code == 200  # still works
    assert api.client.delete(f"/api/v1/tokens/{editor_token}", headers=api.a.auth("admin")).status_code == 204
    assert api.client.delete(f"/api/v1/tokens/{owner_token}", headers=api.a.auth("owner")).status_code == 204
    assert api.get("/api/v1/workflows", role="owner").status_code == 401


def test_a_viewer_cannot_test_a_connection_from_either_face(api: ApiCtx) -> None:
    """The web app's Test button and the API call the same service; the service refuses viewers."""
    created = api.post("/api/v1/connections", {"type": "slack", "name": "Team chat",
                                               "secret": {"webhook_url": "http://127.0.0.1:9/hook"}}, role="editor")
    assert created.status_code == 201, created.text
    conn_id = created.json()["id"]
    api_face = api.post(f"/api/v1/connections/{conn_id}/test", role="viewer")
    assert api_face.status_code == 403
    viewer = Actor(workspace_id=api.a.id, role=Role.viewer, label="user:viewer@example.com", user_id="u1")
    with session_scope() as s, pytest.raises(Forbidden):
        connections.test_connection(s, viewer, conn_id)  # what ConnectionsState.test calls
    editor = Actor(workspace_id=api.a.id, role=Role.editor, label="user:editor@example.com", user_id="u2")
    with session_scope() as s:
        assert connections.test_connection(s, editor, conn_id)["ok"] is False  # nothing listens on :9


def test_a_viewer_cannot_instantiate_a_template_or_start_a_run_through_the_services(api: ApiCtx) -> None:
    from engine.catalog.service import instantiate
    from engine.services.runs import create_run

    wf = api.create_workflow(simple_workflow())
    viewer = Actor(workspace_id=api.a.id, role=Role.viewer, label="user:v@example.com", user_id="u1")
    with session_scope() as s, pytest.raises(Forbidden):
        instantiate(s, viewer, "new-lead-welcome", {"no_such_variable": "x"})  # role first, not variables
    with pytest.raises(Forbidden):  # the builder's "Run test" calls this with the person's actor
        create_run(wf["id"], workspace_id=api.a.id, trigger_type="test", payload={}, actor=viewer)


def test_metrics_need_the_token_when_one_is_set(monkeypatch: pytest.MonkeyPatch, api_factory) -> None:
    monkeypatch.setenv("FLOWMATE_METRICS_TOKEN", "scrape-me-0123456789")
    ctx = api_factory()
    anonymous = ctx.client.get("/metrics")
    assert anonymous.status_code == 401 and "flowmate_" not in anonymous.text
    assert ctx.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = ctx.client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"})
    assert ok.status_code == 200 and "flowmate_webhook_requests" in ok.text


def test_metrics_are_off_in_production_without_a_token(monkeypatch: pytest.MonkeyPatch, api_factory) -> None:
    monkeypatch.setenv("FLOWMATE_ENV", "production")
    monkeypatch.setenv("FLOWMATE_SECRET_KEY", "p" * 40)
    ctx = api_factory()
    r = ctx.client.get("/metrics")
    assert r.status_code == 404 and "flowmate_runs" not in r.text


def test_non_api_answers_forbid_framing(api: ApiCtx) -> None:
    """Pages and assets come from the same ASGI app in production: every answer forbids framing."""
    for path in ("/login", "/_next/static/x.js", "/api/v1/workflows", "/auth/login"):
        r = api.client.get(path)
        assert r.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path


@contextlib.contextmanager
def _server(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[str]:
    port = _free_port()
    cmd = [c.replace("PORT", str(port)) for c in cmd]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/api/health", timeout=2).status_code in (200, 503):
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{cmd[2]} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_webhook_tokens_never_reach_the_access_log(api: ApiCtx, sqlite_db: str, tmp_path: Path, server: str) -> None:
    wf = api.create_workflow(simple_workflow())
    token = wf["webhook_path"].rsplit("/", 1)[1]
    env = {**os.environ, "FLOWMATE_DATABASE_URL": sqlite_db, "FLOWMATE_ENV": "test", "PYTHONUNBUFFERED": "1"}
    cmd = {
        "granian": [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1",
                    "--port", "PORT", "--access-log", "flowmate_app.api:build_api"],
        "uvicorn": [sys.executable, "-m", "uvicorn", "--factory", "--host", "127.0.0.1", "--port", "PORT",
                    "--access-log", "flowmate_app.api:build_api"],
    }[server]
    log = tmp_path / f"{server}.log"
    with _server(cmd, env, log) as base:
        r = httpx.post(f"{base}/hooks/{token}", json={"email": "a@b.c"}, timeout=10)
        assert r.status_code == 202, r.text
        httpx.post(f"{base}/hooks/{token}x/extra?y=1", json={}, timeout=10)  # odd shapes too
        time.sleep(0.5)
    text = log.read_text()
    assert "/hooks/" in text, text[-2000:]  # the access log is on and lists the requests...
    assert token[:6] in text
    assert token not in text  # ...but never a whole token
