"""Several web replicas on one Redis: a UI session's next events served by another replica.

The frontend is built the way the Dockerfile builds it, two web processes (the compose web
command) serve it with FLOWMATE_REDIS_URL pointing at one Redis, and a small TCP balancer sits
in front. In Chromium a user signs up and searches the workflow list: the search text exists
only in the session's UI state. Then the balancer moves the session to the other replica (its
websocket is cut, the browser reconnects there) and the first replica stops; the other replica's
events (the page's load on reconnect, the list's refresh) run with the session's state from
Redis: the list stays filtered, shows a workflow created after the move, and the search box
keeps its text.

(Reflex 0.10.1 caveat, in docs/deploy.md: a replica that CRASHES leaves its sessions' socket
records in Redis, and a session reconnecting elsewhere is then treated as a duplicated tab and
given a fresh token, i.e. fresh UI state. A stopped or drained replica has no such effect.)

(The builder would not do here: its on_load starts a fresh draft on every websocket reconnect,
so unsaved builder edits are lost on any reconnect, even to the same replica.)
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import (
    REPO,
    VENV_BIN,
    Balancer,
    Procs,
    base_env,
    compose_command,
    free_port,
    local_argv,
    unavailable,
    wait_healthy,
)
from deploy_support import with_option as option

sys.path.insert(0, str(REPO / "tests" / "e2e"))
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, DESKTOP, screenshot, sign_up  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[int]:
    """A Redis of this test's own: Reflex's state manager enables keyspace notifications on it."""
    import redis

    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if redis.Redis(port=port).ping():
                    break
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def workflow_for(email: str, name: str) -> None:
    """A workflow in the workspace of the user who signed up with ``email``."""
    from sqlmodel import select

    from engine.db import session_scope
    from engine.models import Membership, User
    from engine.services.actor import Actor
    from engine.services.workflows import create_workflow

    with session_scope() as session:
        user = session.exec(select(User).where(User.email == email)).one()
        ws_id = session.exec(select(Membership.workspace_id).where(Membership.user_id == user.id)).one()
        create_workflow(session, Actor.system(ws_id), {"name": name, "steps": [
            {"key": "note", "action": "core.log", "config": {"message": "hi"}}]})


def _build_frontend(env: dict[str, str], api_url: str) -> None:
    """The Dockerfile's frontend build step, with the balancer's port as the page's port."""
    step = re.search(r"^RUN REFLEX_API_URL=\S+.*?\n\s*reflex export ([^\n&\\]+)", (REPO / "Dockerfile").read_text(),
                     re.M | re.S)
    assert step, "the Dockerfile builds the frontend with reflex export"
    built = subprocess.run([str(VENV_BIN / "reflex"), "export", *step.group(1).split()], cwd=REPO,
                           env={**env, "REFLEX_API_URL": api_url}, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]


def test_a_ui_session_moves_to_another_web_replica_with_its_state(sqlite_db: str, private_redis: int,
                                                                  tmp_path: Path) -> None:
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        unavailable("playwright is not installed")
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM}")
    import redis

    redis_url = f"redis://127.0.0.1:{private_redis}/0"
    ports = [free_port(), free_port()]
    balancer = Balancer(ports[0])
    base = f"http://localhost:{balancer.port}"
    env = base_env(tmp_path, FLOWMATE_DATABASE_URL=sqlite_db, FLOWMATE_REDIS_URL=redis_url, FLOWMATE_BASE_URL=base,
                   GRANIAN_WORKERS="1")
    env["REFLEX_BUN_PATH"] = str(REPO / ".tools/node_modules/bun/bin/bun.exe")
    procs = Procs(tmp_path)
    try:
        _build_frontend(env, base)
        replicas = []
        for n, port in enumerate(ports):
            argv = option(option(local_argv(compose_command("web")), "--port", str(port)), "--host", "127.0.0.1")
            # Separate disk-state folders: only Redis can carry a session from one to the other.
            replicas.append(procs.start(f"web-{n}", argv, {**env, "REFLEX_STATES_WORKDIR": str(tmp_path / f"st{n}")}))
        for n, port in enumerate(ports):
            # No worker runs here, so /api/health says 503 (degraded); the web process is up.
            wait_healthy(f"http://127.0.0.1:{port}", replicas[n], lambda n=n: procs.log(f"web-{n}"),
                         accept=lambda h: h["checks"]["database"]["ok"] and h["checks"]["queue"]["ok"])

        email = f"replica-{uuid.uuid4().hex[:8]}@example.com.au"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context(viewport=DESKTOP, base_url=base).new_page()
                sign_up(page, base, email, "correct horse battery 9")
                workflow_for(email, "Bakery orders")
                workflow_for(email, "Plumbing leads")
                page.goto("/workflows")
                expect(page.get_by_text("Plumbing leads")).to_be_visible(timeout=20_000)
                page.get_by_label("Search workflows").fill("Bakery")
                expect(page.get_by_text("Plumbing leads")).to_have_count(0, timeout=20_000)
                expect(page.get_by_text("Bakery orders")).to_be_visible()
                page.wait_for_timeout(500)
                keys = [k for k in redis.Redis(port=private_redis).scan_iter(count=1000)
                        if not k.startswith(b"flowmate")]
                assert keys, "the UI state is in Redis"

                # The balancer moves the session to replica 1 (replica 0 is drained, as in a
                # rolling deploy): its websocket is cut and the browser reconnects there, which
                # re-runs the page's load with the session's state. Then replica 0 stops.
                balancer.fail_over(ports[1], gap=3.0)
                page.wait_for_timeout(4000)
                procs.kill(replicas[0], signal.SIGTERM)
                workflow_for(email, "Bakery invoices")  # only a fetch after the fail-over shows it
                expect(page.get_by_text("Bakery invoices")).to_be_visible(timeout=30_000)
                expect(page.get_by_text("Bakery orders")).to_be_visible()
                expect(page.get_by_text("Plumbing leads")).to_have_count(0)
                expect(page.get_by_label("Search workflows")).to_have_value("Bakery")
                screenshot(page, "replica-failover-search-kept")
            finally:
                browser.close()
    finally:
        procs.close()
        balancer.close()
