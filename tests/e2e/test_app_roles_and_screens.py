"""Roles, lockout, connections and the look of every main page (light/dark, desktop/phone).

- a viewer sees everything but every control that changes something is hidden or disabled, and a
  service call forced with the viewer's own session cookie is refused;
- repeated wrong passwords lock the account with a clear message;
- secrets typed into a connection are never shown again;
- screenshots of each main page in four variants land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from browser_helpers import CHROMIUM_ARGS, DESKTOP, PHONE, log_in, screenshot, sign_up  # noqa: F401
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "correct horse 1"
GOOD = {
    "name": "New enquiry → Slack & CRM",
    "description": "Shape the enquiry, then log it",
    "trigger": {"type": "webhook", "config": {}},
    "steps": [
        {"key": "shape", "action": "data.transform", "config": {"mapping": {"who": "{{ trigger.payload.name }}"}}},
        {"key": "note", "action": "core.log", "config": {"message": "Enquiry from {{ steps.shape.output.who }}"}},
    ],
}
FAILING = {
    "name": "Sync invoices to accounting",
    "trigger": {"type": "manual", "config": {}},
    "steps": [
        {"key": "push", "action": "http.request", "config": {"method": "POST", "url": "http://127.0.0.1:9/invoices"},
         "retry": {"max_attempts": 1, "initial_delay_s": 0, "factor": 1, "max_delay_s": 0}},
    ],
}


@pytest.fixture(scope="module")
def owner_workspace(app_server, tmp_path_factory, browser: Browser) -> dict[str, str]:
    """An owner (signed up through the UI) whose workspace has workflows, runs and a connection."""
    tag = uuid.uuid4().hex[:6]
    email = f"owner-{tag}@example.com"
    workspace = f"Harbour Plumbing {tag}"
    context = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url)
    page = context.new_page()
    sign_up(page, app_server.base_url, email, PASSWORD, name="Harriet Owner", workspace=workspace)
    context.close()
    slug = re.sub(r"[^a-z0-9]+", "-", workspace.lower()).strip("-")
    folder = tmp_path_factory.mktemp("defs")
    ids = {}
    for key, definition in (("good", GOOD), ("failing", FAILING)):
        path = Path(folder) / f"{key}.json"
        path.write_text(json.dumps(definition))
        ids[key] = json.loads(app_server.cli("workflows", "import", str(path), "--workspace", slug).stdout)["id"]
    run_ids = []
    for n in range(3):
        out = app_server.cli("run", ids["good"], "--wait", "--payload", json.dumps({"name": f"Customer {n}"}))
        run_ids.append(json.loads(out.stdout)["id"])
    failed = app_server.cli("run", ids["failing"], "--wait", check=False)
    failed_run = json.loads(failed.stdout)
    assert failed_run["status"] == "failed", failed.stdout + failed.stderr
    return {"email": email, "slug": slug, "workflow_id": ids["good"], "run_id": run_ids[-1],
            "failed_run_id": failed_run["id"]}


def test_connection_secret_is_write_only(page: Page, app_server, owner_workspace) -> None:
    log_in(page, app_server.base_url, owner_workspace["email"], PASSWORD)
    page.goto("/connections")
    expect(page.get_by_role("heading", name="Connections", level=1)).to_be_visible()
    secret = f"s3cret-{uuid.uuid4().hex}"
    if page.locator(".connection-row").count() == 0:
        expect(page.locator("#connections-empty")).to_be_visible()
    page.locator("#add-connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#conn-name").fill("Office email")
    dialog.locator("#conn-config-host").fill("127.0.0.1")
    dialog.locator("#conn-config-port").fill("2525")
    dialog.locator("#conn-config-from_email").fill("office@harbour.example.com")
    dialog.locator("#conn-secret-password").fill(secret)
    dialog.get_by_role("button", name="Save connection").click()
    expect(dialog).to_be_hidden()
    row = page.locator(".connection-row", has_text="Office email")
    expect(row).to_contain_text("Secrets set: Password")
    assert secret not in page.content()

    # Editing shows that a secret is saved, never its value; leaving it blank keeps it.
    row.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("#conn-secret-password")).to_have_value("")
    expect(dialog.locator("#conn-secret-password")).to_have_attribute("placeholder", re.compile("Saved"))
    assert secret not in page.content()
    dialog.locator("#conn-config-from_name").fill("Harbour Plumbing")
    dialog.get_by_role("button", name="Save connection").click()
    expect(dialog).to_be_hidden()
    expect(row).to_contain_text("Secrets set: Password")

    # Test: nothing listens on port 2525, so the check fails with a readable message.
    row.get_by_role("button", name="Test").click()
    expect(row.locator(".test-result")).to_be_visible(timeout=20_000)
    assert secret not in page.content()


def test_viewer_cannot_change_anything(browser: Browser, app_server, owner_workspace) -> None:
    viewer = f"viewer-{uuid.uuid4().hex[:6]}@example.com"
    app_server.cli("users", "create", viewer, "--password", PASSWORD, "--workspace", owner_workspace["slug"],
                   "--role", "viewer", "--name", "Vic Viewer")
    context = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, app_server.base_url, viewer, PASSWORD)
    expect(page.get_by_role("button", name="New workflow")).to_have_count(0)

    page.goto("/workflows")
    expect(page.locator(".workflow-row").first).to_be_visible()
    expect(page.locator("#viewer-notice")).to_be_visible()
    expect(page.locator("#new-workflow")).to_have_count(0)
    expect(page.locator("#import-open")).to_have_count(0)
    toggles = page.locator(".enable-toggle")
    for i in range(toggles.count()):
        expect(toggles.nth(i)).to_be_disabled()
    page.locator(".workflow-row").first.get_by_role("button", name=re.compile("More actions")).click()
    expect(page.get_by_role("menuitem", name="Export JSON")).to_be_visible()
    expect(page.get_by_role("menuitem", name=re.compile("Delete"))).to_have_count(0)
    expect(page.get_by_role("menuitem", name="Duplicate")).to_have_count(0)
    page.keyboard.press("Escape")

    page.goto(f"/runs/{owner_workspace['run_id']}")
    expect(page.locator("#run-status")).to_contain_text("succeeded")
    expect(page.locator("#rerun")).to_have_count(0)

    page.goto("/connections")
    expect(page.get_by_role("heading", name="Connections", level=1)).to_be_visible()
    expect(page.locator("#add-connection")).to_have_count(0)
    expect(page.get_by_role("button", name="Edit")).to_have_count(0)

    page.goto("/settings")
    expect(page.locator("#ws-name")).to_be_disabled()
    expect(page.locator("#settings-save")).to_have_count(0)
    page.goto("/members")
    expect(page.locator("#member-add")).to_have_count(0)
    expect(page.locator(".member-row").first).to_be_visible()

    # Forcing the services with the viewer's own session (what a hand-made event would reach).
    token = next(c["value"] for c in context.cookies() if c["name"] == "flowmate_session")
    from engine.db import session_scope
    from engine.errors import Forbidden
    from engine.services import connections, sessions, workflows, workspaces

    with session_scope(app_server.database_url) as session:
        actor = sessions.session_actor(session, token)
        assert actor is not None and actor.role == "viewer"
        for attempt in (
            lambda: workflows.set_enabled(session, actor, owner_workspace["workflow_id"], False),
            lambda: workflows.delete_workflow(session, actor, owner_workspace["workflow_id"]),
            lambda: connections.create_connection(session, actor, {"type": "slack", "name": "x",
                                                                   "secret": {"webhook_url": "https://x"}}),
            lambda: workspaces.update_settings(session, actor, {"name": "Hijacked"}),
        ):
            with pytest.raises(Forbidden):
                attempt()
        session.rollback()
    page.goto("/workflows")
    expect(page.locator(".workflow-row").first).to_be_visible()
    assert errors == []
    context.close()


def test_login_lockout_after_repeated_failures(page: Page, app_server, owner_workspace) -> None:
    email = f"locked-{uuid.uuid4().hex[:6]}@example.com"
    app_server.cli("users", "create", email, "--password", PASSWORD, "--workspace", owner_workspace["slug"],
                   "--role", "editor")
    for _ in range(5):
        page.goto("/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("wrong password!")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#auth-error")).to_have_text("Invalid email or password.")
    # Locked now: even the right password is refused, with a message that says why.
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#auth-error")).to_contain_text("Too many failed attempts")
    expect(page).to_have_url(re.compile(r"/login"))
    screenshot(page, "login-locked")


def test_protected_pages_redirect_to_login(page: Page) -> None:
    page.goto("/runs?status=failed")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fruns(%2F)?%3Fstatus%3Dfailed"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


PAGES = [
    ("dashboard", "/", "Dashboard"),
    ("workflows", "/workflows", "Workflows"),
    ("runs", "/runs", "Runs"),
    ("run-detail", "RUN", None),
    ("connections", "/connections", "Connections"),
    ("audit", "/audit", "Audit log"),
    ("contacts", "/contacts", "Contacts"),
    ("settings", "/settings", "Settings"),
    ("members", "/members", "Members"),
]


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_every_main_page(browser: Browser, app_server, owner_workspace, size: str,
                                        scheme: str) -> None:
    context = browser.new_context(viewport=DESKTOP if size == "desktop" else PHONE, base_url=app_server.base_url,
                                  color_scheme="light")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/login")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    if scheme == "dark":
        page.get_by_role("button", name="Toggle dark mode").click()
        expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    screenshot(page, f"page-login-{size}-{scheme}")
    log_in(page, app_server.base_url, owner_workspace["email"], PASSWORD)
    for name, path, heading in PAGES:
        page.goto(f"/runs/{owner_workspace['failed_run_id']}" if path == "RUN" else path)
        if heading:
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        else:
            expect(page.locator(".step-card").first).to_be_visible()
        page.locator(".loading-state").first.wait_for(state="detached", timeout=10_000)
        page.wait_for_timeout(400)  # let charts finish their first layout
        screenshot(page, f"page-{name}-{size}-{scheme}")
    assert errors == []
    context.close()
