"""SSRF targets fail the http.request step with a clear, non-retried error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import LocalServer

from engine.config import Settings
from engine.db import session_scope
from engine.executor import Executor
from engine.models import Run
from engine.services.actor import Actor
from engine.services.runs import create_run, run_public
from engine.services.workflows import create_workflow


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def run_http_step(workspace: dict, url: str, settings: Settings) -> dict:
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        wf = create_workflow(session, actor, {"name": "Call", "steps": [
            {"key": "call", "action": "http.request", "config": {"url": url},
             "retry": {"max_attempts": 3, "initial_delay_s": 0}}]})
    run, _ = create_run(wf.id, workspace_id=workspace["id"], trigger_type="manual", payload={}, enqueue=False)
    outcome = Executor(settings).execute(run.id)
    assert outcome.requeue_in is None, "a refused address must not be retried"
    with session_scope() as session:
        return run_public(session, session.get(Run, run.id))


@pytest.mark.parametrize(("target", "words"), [
    ("http://127.0.0.1:{port}/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::1]:{port}/", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/", "127.0.0.1"),
    ("http://localhost:{port}/", "loopback"),
    ("http://10.1.2.3/", "private"),
])
def test_non_public_targets_are_refused(sqlite_db: str, workspace: dict, server: LocalServer, target: str,
                                        words: str) -> None:
    run = run_http_step(workspace, target.format(port=server.port), Settings(outbound_allow=[]))
    step = run["steps"][0]
    assert run["status"] == "failed" and step["status"] == "failed" and step["attempts"] == 1
    assert "refused" in step["error"] and words in step["error"], step["error"]
    assert server.hits == {}  # nothing reached the local server


def test_redirect_to_loopback_is_refused(sqlite_db: str, workspace: dict) -> None:
    # The allow-list lets us reach 127.0.0.2 only; the redirect points at 127.0.0.1.
    victim = LocalServer()
    server = LocalServer(host="127.0.0.2")
    try:
        server.route("/go", lambda req: (302, {"Location": f"http://127.0.0.1:{victim.port}/secret"}, b""))
        settings = Settings(outbound_allow=["127.0.0.2/32"])
        run = run_http_step(workspace, f"http://127.0.0.2:{server.port}/go", settings)
    finally:
        victim.close()
        server.close()
    step = run["steps"][0]
    assert run["status"] == "failed" and "refused" in step["error"] and "127.0.0.1" in step["error"]
    assert server.hits["/go"] == 1 and victim.hits == {}
