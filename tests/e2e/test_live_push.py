"""Live push in the browser: pages change the moment the worker records a change, no reload.

A webhook run's first step calls a local "gate" server that holds the request until the test
lets it go, so the run is visibly in flight while the run page, the runs list and the dashboard
are open; releasing the gate makes the worker record the step and the run, and each page shows
it without a reload and before its 30 s fallback read could have (each page was opened less
than 30 s before; expect() gives up after 15 s)."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from browser_helpers import screenshot, sign_up
from playwright.sync_api import Page, expect
from support import LocalServer, json_response

pytestmark = pytest.mark.browser


class Gate:
    """An HTTP endpoint that answers only once released (one release per request)."""

    def __init__(self) -> None:
        self.server = LocalServer()
        self._open = threading.Semaphore(0)
        self.server.route("/gate", self._hold)

    def _hold(self, req: dict) -> tuple[int, dict[str, str], bytes]:
        self._open.acquire(timeout=60)
        return json_response(200, {"released": True})

    def release(self) -> None:
        self._open.release()

    @property
    def url(self) -> str:
        return self.server.url + "/gate"

    def close(self) -> None:
        for _ in range(10):
            self._open.release()
        self.server.close()


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.close()


def _webhook_url(app_server, workflow_id: str) -> str:
    path = app_server.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        (token,) = conn.execute('SELECT webhook_token FROM "trigger" WHERE workflow_id = ?',
                                (workflow_id,)).fetchone()
    return app_server.url(f"/hooks/{token}")


def _import(page: Page, definition: dict) -> str:
    page.goto("/workflows")
    page.get_by_role("button", name="Import").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Definition").fill(json.dumps(definition))
    dialog.get_by_role("button", name="Import").click()
    expect(dialog).to_be_hidden()
    link = page.locator("#workflow-list a.workflow-name").first
    expect(link).to_have_text(definition["name"])
    return (link.get_attribute("href") or "").rsplit("/", 1)[-1]


def _start(hook: str, n: int) -> str:
    r = httpx.post(hook, json={"n": n}, timeout=10)
    assert r.status_code == 202, r.text
    return r.json()["run_id"]


def test_pages_follow_the_worker_without_a_reload(page: Page, app_server, gate: Gate) -> None:
    sign_up(page, app_server.base_url, f"live-{uuid.uuid4().hex[:8]}@example.com", "correct horse 1",
            name="Lee Live", workspace="Push Co")
    workflow_id = _import(page, {
        "name": "Gated",
        "trigger": {"type": "webhook", "config": {}},
        "steps": [
            {"key": "call", "action": "http.request", "config": {"method": "POST", "url": gate.url}},
            {"key": "note", "action": "core.log", "config": {"message": "done {{ trigger.body.n }}"}},
        ],
    })
    hook = _webhook_url(app_server, workflow_id)

    # Run page: the first step is in flight; the worker records it and the run, the page follows.
    run_id = _start(hook, 1)
    page.goto(f"/runs/{run_id}")
    call = page.locator('.step-card[data-step="call"]')
    expect(call).to_have_attribute("data-status", "running")
    page.evaluate("window.__no_reload_marker = 1")
    gate.release()
    expect(call).to_have_attribute("data-status", "succeeded")
    expect(page.locator('.step-card[data-step="note"]')).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#run-status")).to_contain_text("succeeded")
    assert page.evaluate("window.__no_reload_marker") == 1, "the page was reloaded"
    screenshot(page, "live-push-run-page")

    # Runs list: a new run appears at the top, then turns succeeded.
    page.goto("/runs")
    rows = page.locator("#run-list .run-row")
    expect(rows).to_have_count(1)
    page.evaluate("window.__no_reload_marker = 2")
    second = _start(hook, 2)
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-run-id", second)
    expect(rows.first).to_have_attribute("data-status", "running")
    gate.release()
    expect(rows.first).to_have_attribute("data-status", "succeeded")
    assert page.evaluate("window.__no_reload_marker") == 2, "the page was reloaded"

    # Dashboard: the day's count follows a third run.
    page.goto("/")
    expect(page.locator("#stat-runs-today .stat-value")).to_have_text("2")
    page.evaluate("window.__no_reload_marker = 3")
    _start(hook, 3)
    gate.release()
    expect(page.locator("#stat-runs-today .stat-value")).to_have_text("3")
    assert page.evaluate("window.__no_reload_marker") == 3, "the page was reloaded"
    screenshot(page, "live-push-dashboard")
    assert page.js_errors == []  # type: ignore[attr-defined]
