"""The API under the real server: `reflex run --env prod --backend-only` (Granian, the app's
lifespan starting the embedded workers), proving /api/v1, /hooks, /api/docs and /metrics answer
there and that a webhook run is executed end to end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import make_tenant, simple_workflow
from support import wait_for

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(sqlite_db: str, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFLEX_", "FLOWMATE_"))}
    env.update({
        "PYTHONUNBUFFERED": "1", "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "0",
        "REFLEX_WEB_WORKDIR": str(tmp_path / "web"), "REFLEX_STATES_WORKDIR": str(tmp_path / "states"),
        "FLOWMATE_ENV": "test", "FLOWMATE_DATABASE_URL": sqlite_db, "FLOWMATE_BASE_URL": f"http://127.0.0.1:{port}",
    })
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed in finally
    cmd = [sys.executable, "-m", "reflex", "run", "--env", "prod", "--backend-only",
           "--backend-port", str(port), "--backend-host", "127.0.0.1"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the served app did not become healthy:\n" + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def test_api_and_hooks_answer_under_reflex_prod_backend(served: str) -> None:
    tenant = make_tenant("Served")
    with httpx.Client(base_url=served, headers=tenant.auth("editor"), timeout=10) as client:
        health = client.get("/api/health").json()
        assert health["status"] == "ok" and health["checks"]["workers"]["ok"]

        created = client.post("/api/v1/workflows", json=simple_workflow("Served flow"))
        assert created.status_code == 201, created.text
        hook = created.json()["webhook_path"]

        accepted = httpx.post(served + hook, json={"name": "Zoë"}, timeout=10)
        assert accepted.status_code == 202
        run_id = accepted.json()["run_id"]
        run = wait_for(lambda: (r := client.get(f"/api/v1/runs/{run_id}").json())["status"] == "succeeded" and r)
        assert run["trigger"]["body"] == {"name": "Zoë"} and run["steps"][0]["status"] == "succeeded"

        assert httpx.post(served + "/hooks/unknown-token", json={}).status_code == 404
        assert client.get("/api/v1/nope").json()["error"]["code"] == "not_found"
        assert httpx.get(served + "/api/v1/workflows").status_code == 401
        assert client.get("/api/docs").status_code == 200
        assert client.get("/api/openapi.json").json()["paths"]["/api/v1/workflows"]
        metrics = client.get("/metrics").text
        assert 'flowmate_webhook_requests_total{outcome="accepted"}' in metrics
        assert 'flowmate_runs_finished_total{status="succeeded"}' in metrics
