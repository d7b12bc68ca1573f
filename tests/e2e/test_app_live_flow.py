"""The web app end to end, as a person uses it: sign up, import a workflow, watch runs that were
started from OUTSIDE the browser (the CLI, like a cron job or another machine would) appear on
the dashboard and the runs list without a reload, and open a run's step-by-step detail.

Without Redis (this app), a run the CLI executes in its own process is not pushed to the web
process (the live bus is in-process there): the pages show it at their fallback read
(FLOWMATE_LIVE_FALLBACK_SECONDS, 30 s), hence the longer waits. Pushed updates: test_live_push.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from browser_helpers import screenshot, sign_up
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
#: The pages' fallback read (30 s) plus the time to read and render.
FALLBACK_READ_MS = 45_000

DEFINITION = {
    "name": "Lead follow-up <b>not bold</b>",
    "description": "Imported in the e2e test",
    "trigger": {"type": "manual", "config": {}},
    "steps": [
        {"key": "shape", "action": "data.transform",
         "config": {"mapping": {"email": "{{ trigger.payload.email | lower }}",
                                "score": "{{ trigger.payload.score }}"}}},
        {"key": "note", "action": "core.log", "config": {"message": "Lead {{ steps.shape.output.email }}"}},
    ],
}


def _start_run_in_background(app_server, workflow_id: str, email: str) -> subprocess.Popen[str]:
    env = {**app_server.env, "FLOWMATE_DATABASE_URL": app_server.database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "run", workflow_id, "--wait", "--timeout", "60",
         "--payload", json.dumps({"email": email, "score": 72})],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _import_workflow(page: Page, definition: dict) -> str:
    page.get_by_role("button", name="Import").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Definition").fill(json.dumps(definition))
    dialog.get_by_role("button", name="Import").click()
    expect(dialog).to_be_hidden()
    link = page.locator("#workflow-list a.workflow-name").first
    expect(link).to_have_text(definition["name"])
    href = link.get_attribute("href") or ""
    return href.rsplit("/", 1)[-1]


def test_sign_up_import_and_watch_outside_runs_live(page: Page, app_server) -> None:
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(page, app_server.base_url, email, "correct horse 1", name="Olivia Owner", workspace="Live Flow Co")

    # A brand-new workspace: the dashboard explains what to do first.
    expect(page.get_by_role("heading", name="No workflows yet")).to_be_visible()
    expect(page.locator("#stat-runs-today .stat-value")).to_have_text("0")

    # Workflows list: the empty state, then an import with a deliberately invalid definition.
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Workflows").click()
    expect(page.get_by_role("heading", name="Workflows", level=1)).to_be_visible()
    expect(page.locator("#workflows-empty")).to_be_visible()
    screenshot(page, "flow-workflows-empty")

    page.get_by_role("button", name="Import").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Definition").fill('{"name": "Broken", "steps": [{"key": "Bad Key", "action": "nope"}]}')
    dialog.get_by_role("button", name="Import").click()
    expect(dialog.locator("#import-error")).to_contain_text("steps.0.key")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    workflow_id = _import_workflow(page, DEFINITION)
    assert re.fullmatch(r"[0-9a-f]{32}", workflow_id), workflow_id
    # User text is rendered as text, never as markup.
    expect(page.locator("#workflow-list b")).to_have_count(0)
    expect(page.locator(".workflow-row").first).to_contain_text("Never run")

    # Dashboard open; a run is started from outside the browser; the figures change live.
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.locator("#stat-runs-today .stat-value")).to_have_text("0")
    page.evaluate("window.__no_reload_marker = 42")
    cli = _start_run_in_background(app_server, workflow_id, "First@Example.com")
    out, err = cli.communicate(timeout=90)
    assert cli.returncode == 0, f"{out}\n{err}"
    assert json.loads(out)["status"] == "succeeded"
    expect(page.locator("#stat-runs-today .stat-value")).to_have_text("1", timeout=FALLBACK_READ_MS)
    expect(page.locator("#stat-success .stat-value")).to_have_text("100%")
    expect(page.locator("#top-workflows")).to_contain_text(DEFINITION["name"])
    assert page.evaluate("window.__no_reload_marker") == 42, "the page was reloaded"
    screenshot(page, "flow-dashboard-after-run")

    # Runs list open; a second outside run appears at the top without a reload.
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Runs").click()
    rows = page.locator("#run-list .run-row")
    expect(rows).to_have_count(1)
    page.evaluate("window.__no_reload_marker = 43")
    cli = _start_run_in_background(app_server, workflow_id, "Second@Example.com")
    out, err = cli.communicate(timeout=90)
    assert cli.returncode == 0, f"{out}\n{err}"
    second_id = json.loads(out)["id"]
    expect(rows).to_have_count(2, timeout=FALLBACK_READ_MS)
    expect(rows.first).to_have_attribute("data-run-id", second_id)
    expect(rows.first).to_have_attribute("data-status", "succeeded")
    assert page.evaluate("window.__no_reload_marker") == 43, "the page was reloaded"

    # Filters: failed shows the filtered empty state; clearing brings the runs back.
    page.locator("#filter-status").click()
    page.get_by_role("option", name="Failed").click()
    expect(page.locator("#runs-empty")).to_contain_text("No runs match these filters")
    page.get_by_role("button", name="Clear filters").first.click()
    expect(rows).to_have_count(2)

    # Run detail: every step with its rendered input and output.
    rows.first.click()
    expect(page).to_have_url(re.compile(rf"/runs/{second_id}$"))
    expect(page.locator("#run-status")).to_contain_text("succeeded")
    steps = page.locator(".step-card")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_have_attribute("data-status", "succeeded")
    expect(steps.nth(1)).to_have_attribute("data-status", "succeeded")
    expect(steps.nth(0)).to_contain_text("second@example.com")  # rendered by the expression
    expect(steps.nth(1)).to_contain_text("Lead second@example.com")
    screenshot(page, "flow-run-detail")
    assert page.js_errors == []  # type: ignore[attr-defined]
