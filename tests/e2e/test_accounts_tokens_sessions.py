"""API tokens and sessions in the browser, plus creating and leaving workspaces.

- /tokens: a token is created with a name, a role (never above the creator's) and an expiry, shown
  once with a copy button, works against /api/v1, shows "last used", and answers 401 once revoked;
- /account: lists this browser and the others (device, IP, last seen); revoking one logs that
  browser out;
- workspaces are created from the account page; leaving is refused for the last owner and works
  for a member.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid

import pytest
from browser_helpers import DESKTOP, log_in, screenshot, sign_up
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser
PASSWORD = "correct horse 1"


def _api(app_server, path: str, token: str) -> int:
    req = urllib.request.Request(app_server.url(path), headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _pick(page: Page, trigger: str, option: str) -> None:
    page.locator(trigger).click()
    page.get_by_role("option", name=option, exact=True).click()


def _slug(page: Page) -> str:
    page.goto("/settings")
    return page.locator("code").first.inner_text()


def test_token_created_shown_once_used_and_revoked(page: Page, browser: Browser, app_server) -> None:
    tag = uuid.uuid4().hex[:6]
    sign_up(page, app_server.base_url, f"tess-{tag}@example.com", PASSWORD, workspace=f"Token Co {tag}")
    page.goto("/tokens")
    expect(page.locator("#tokens-empty")).to_be_visible()
    page.locator("#token-role").click()
    expect(page.get_by_role("option")).to_have_text(["Owner", "Admin", "Editor", "Viewer"])
    page.keyboard.press("Escape")
    page.locator("#token-name").fill("Xero sync")
    _pick(page, "#token-role", "Editor")
    _pick(page, "#token-expiry", "30 days")
    page.locator("#token-create").click()
    value = page.locator("#token-value")
    expect(value).to_have_text(re.compile(r"^fm_\S{30,}$"))
    token = value.inner_text()
    screenshot(page, "accounts-token-created")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator("#token-copy").click()
    expect(page.get_by_text("Token copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == token
    page.locator("#token-done").click()
    expect(page.locator("#token-value")).to_have_count(0)

    row = page.locator(".token-row", has_text="Xero sync")
    expect(row).to_contain_text("editor")
    expect(row).to_contain_text(token[:10])
    expect(row).to_contain_text("never")  # not used yet
    assert token not in page.content()  # shown once: only the prefix stays on the page

    assert _api(app_server, "/api/v1/workflows", token) == 200
    page.reload()
    row = page.locator(".token-row", has_text="Xero sync")
    expect(row.locator("td").nth(3)).not_to_have_text("never")
    screenshot(page, "accounts-tokens")

    row.get_by_role("button", name="Revoke token Xero sync").click()
    page.locator(".confirm-action").click()
    expect(row).to_contain_text("revoked")
    assert _api(app_server, "/api/v1/workflows", token) == 401

    # An admin's tokens are capped at admin.
    admin_email = f"adele-{tag}@example.com"
    app_server.cli("users", "create", admin_email, "--password", PASSWORD, "--workspace", _slug(page),
                   "--role", "admin")
    admin = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url).new_page()
    log_in(admin, app_server.base_url, admin_email, PASSWORD)
    admin.goto("/tokens")
    admin.locator("#token-role").click()
    expect(admin.get_by_role("option")).to_have_text(["Admin", "Editor", "Viewer"])
    admin.context.close()


def test_revoking_a_session_logs_that_browser_out(page: Page, browser: Browser, app_server) -> None:
    email = f"sid-{uuid.uuid4().hex[:6]}@example.com"
    sign_up(page, app_server.base_url, email, PASSWORD, workspace="Session Co")
    other = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url,
                                user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                                           "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 "
                                           "Safari/604.1").new_page()
    log_in(other, app_server.base_url, email, PASSWORD)

    page.locator("#user-menu").click()
    page.locator("#menu-account").click()
    expect(page.get_by_role("heading", name="Account", level=1)).to_be_visible()
    rows = page.locator(".session-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("this browser")
    expect(rows.first).to_contain_text("Headless Chrome on Linux")
    expect(rows.nth(1)).to_contain_text("Safari on iPhone")
    expect(rows.nth(1)).to_contain_text("IP 127.0.0.1")
    expect(page.locator("#verify-notice")).to_contain_text("cannot accept invitations to other workspaces")
    screenshot(page, "accounts-account")
    rows.nth(1).get_by_role("button", name=re.compile("Revoke session")).click()
    expect(page.get_by_text("that browser is signed out")).to_be_visible()
    expect(rows).to_have_count(1)

    other.goto("/workflows")
    expect(other).to_have_url(re.compile(r"/login\?next=%2Fworkflows"))
    other.context.close()


def test_create_and_leave_workspaces(page: Page, browser: Browser, app_server) -> None:
    tag = uuid.uuid4().hex[:6]
    owner_email, member_email = f"wendy-{tag}@example.com", f"milo-{tag}@example.com"
    sign_up(page, app_server.base_url, owner_email, PASSWORD, workspace=f"First Co {tag}")
    page.goto("/account")
    page.locator("#new-workspace-name").fill(f"Second Co {tag}")
    page.locator("#create-workspace").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.locator("#user-menu")).to_contain_text(f"Second Co {tag}")

    page.goto("/account")
    expect(page.locator(".workspace-row")).to_have_count(2)
    page.locator(".workspace-row", has_text=f"Second Co {tag}").get_by_role("button", name="Leave").click()
    page.locator(".confirm-action").click()
    expect(page.get_by_text("you are the last owner of this workspace")).to_be_visible()

    slug = json.loads(app_server.cli("workspaces", "create", f"Third Co {tag}").stdout)["slug"]
    app_server.cli("users", "create", member_email, "--password", PASSWORD, "--workspace", slug, "--role", "editor")
    member = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url).new_page()
    log_in(member, app_server.base_url, member_email, PASSWORD)
    member.goto("/account")
    member.locator(".workspace-row").get_by_role("button", name="Leave").click()
    member.locator(".confirm-action").click()
    expect(member.get_by_text("this is your only workspace")).to_be_visible()
    member.locator("#new-workspace-name").fill(f"Milo's own {tag}")
    member.locator("#create-workspace").click()
    expect(member.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    member.goto("/account")
    member.locator(".workspace-row", has_text=f"Third Co {tag}").get_by_role("button", name="Leave").click()
    member.locator(".confirm-action").click()
    expect(member.get_by_text(f"You left Third Co {tag}")).to_be_visible()
    expect(member.locator(".workspace-row")).to_have_count(1)
    member.context.close()
