"""The notification bell: a failed run shows on the badge without a reload, the dropdown links to
it, and "Mark all as seen" clears it (kept in this browser's local storage, so a reload agrees).

The run's only step calls a local server that answers 404, a permanent failure, so the run fails
at once; the page was opened seconds before, so only the bus (not the 30 s fallback) can have
updated the badge within expect()'s 15 s."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator

import httpx
import pytest
from browser_helpers import screenshot, sign_up
from playwright.sync_api import Page, expect
from support import LocalServer, json_response

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def missing() -> Iterator[str]:
    server = LocalServer()
    server.route("/missing", lambda req: json_response(404, {"error": "no such thing"}))
    yield server.url + "/missing"
    server.close()


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


def test_bell_counts_a_failed_run_live_and_mark_all_as_seen_clears_it(page: Page, app_server, missing: str) -> None:
    sign_up(page, app_server.base_url, f"bell-{uuid.uuid4().hex[:8]}@example.com", "correct horse 1",
            name="Bea Bell", workspace="Bell Co")
    workflow_id = _import(page, {
        "name": "Doomed sync",
        "trigger": {"type": "webhook", "config": {}},
        "steps": [{"key": "call", "action": "http.request", "config": {"method": "GET", "url": missing}}],
    })
    hook = _webhook_url(app_server, workflow_id)

    page.goto("/")
    bell = page.get_by_role("button", name="Notifications")
    badge = page.locator("#notification-badge")
    expect(bell).to_have_attribute("data-count", "0")
    expect(badge).to_be_hidden()
    bell.click()
    expect(page.locator("#bell-empty")).to_contain_text("You're all caught up")
    page.keyboard.press("Escape")
    expect(page.locator("#bell-panel")).to_be_hidden()

    page.evaluate("window.__no_reload_marker = 1")
    r = httpx.post(hook, json={"n": 1}, timeout=10)
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    expect(badge).to_have_text("1")
    expect(bell).to_have_attribute("aria-label", "Notifications, 1 unseen")
    # The dashboard's own live figures follow too: the bell's follower does not replace the page's.
    expect(page.locator("#stat-failed .stat-value")).to_have_text("1")
    assert page.evaluate("window.__no_reload_marker") == 1, "the page was reloaded"

    bell.focus()
    page.keyboard.press("Enter")  # keyboard opens it too
    item = page.locator("#bell-list .bell-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Doomed sync")
    expect(item).to_contain_text("404")
    expect(item).to_have_attribute("href", f"/runs/{run_id}")
    screenshot(page, "notification-bell-desktop", full_page=False)

    page.set_viewport_size(PHONE)
    expect(item).to_be_visible()
    screenshot(page, "notification-bell-phone", full_page=False)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("button", name="Mark all as seen").click()
    expect(badge).to_be_hidden()
    expect(page.locator("#bell-empty")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#bell-panel")).to_be_hidden()

    page.reload()  # the "seen" time is kept by the browser
    expect(page.get_by_role("button", name="Notifications")).to_have_attribute("data-count", "0")
    expect(badge).to_be_hidden()

    # The link goes to the run page.
    page.get_by_role("button", name="Notifications").click()
    expect(page.locator("#bell-empty")).to_be_visible()
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#run-status")).to_contain_text("failed")
    assert page.js_errors == []  # type: ignore[attr-defined]
