"""Connect a Xero account in Chromium: Connections → Add → Xero → Connect → consent at the local
authorization server → back on Connections with the organisation chosen; a replayed callback is
refused; a refused refresh shows "Reconnect needed" and Reconnect repairs it."""

from __future__ import annotations

import re
import uuid

import pytest
from browser_helpers import screenshot, sign_up
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_connect_xero_in_the_browser(page: Page, app_server, local_oauth) -> None:
    tag = uuid.uuid4().hex[:6]
    sign_up(page, app_server.base_url, f"baker-{tag}@example.com", "correct horse 1", name="Bea Baker",
            workspace=f"Harbour Bakery {tag}")
    page.goto(app_server.url("/connections"))
    page.locator("#add-connection").click()
    # A provider whose app is not configured on this server says so, and cannot be started.
    page.locator("#conn-type").click()
    page.get_by_role("option", name="Google Sheets").click()
    expect(page.locator("#oauth-not-configured")).to_contain_text("FLOWMATE_OAUTH_GOOGLE_SHEETS_CLIENT_ID")
    expect(page.locator("#oauth-not-configured")).to_contain_text("/oauth/callback")
    expect(page.locator("#connection-connect")).to_be_disabled()
    screenshot(page, "connections-oauth-not-configured", full_page=False)
    page.locator("#conn-type").click()
    page.get_by_role("option", name="Xero").click()
    expect(page.locator("#oauth-info")).to_contain_text("You will sign in at Xero")
    expect(page.locator("#conn-secret-access_token")).to_have_count(0)  # no pasted tokens for OAuth types
    page.locator("#conn-name").fill("Bakery books")
    screenshot(page, "connections-xero-connect", full_page=False)
    page.locator("#connection-connect").click()

    # The provider's consent page (the local authorization server), then back to FlowMate.
    expect(page.get_by_role("heading", name="Allow FlowMate to access your organisation?")).to_be_visible()
    assert "code_challenge=" in page.url and "state=" in page.url
    page.locator("#allow").click()
    page.wait_for_url(re.compile(r"/connections/?\?connected="))
    callback = next(r for r in reversed(local_oauth.requests) if r.path == "/token")
    assert callback.form["code_verifier"]  # PKCE verifier sent and accepted by the server
    row = page.locator(".connection-row", has_text="Bakery books")
    expect(row).to_contain_text("Harbour Bakery Pty Ltd")
    expect(row).to_contain_text("Access token")
    expect(page.get_by_text("Connected “Bakery books”")).to_be_visible()
    screenshot(page, "connections-xero-connected", full_page=False)

    # The callback URL replayed (e.g. from history) is refused and changes nothing.
    authorize = next(r for r in reversed(local_oauth.requests) if r.path == "/authorize" and r.method == "POST")
    state = authorize.form["state"]
    response = page.goto(app_server.url(f"/oauth/callback?code=replayed&state={state}"))
    assert response is not None and response.status == 400
    expect(page.locator("#oauth-message")).to_contain_text("already used")
    screenshot(page, "connections-oauth-refused", full_page=False)

    # Xero revokes the grant: the next refresh is refused → "Reconnect needed" → Reconnect.
    local_oauth.revoked_grants.update(e["grant"] for e in local_oauth.refresh.values())
    import sqlite3

    db = app_server.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as sql:
        sql.execute("UPDATE oauthgrant SET expires_at = '2000-01-01 00:00:00'")
    page.goto(app_server.url("/connections"))
    row = page.locator(".connection-row", has_text="Bakery books")
    row.get_by_role("button", name="Test").click()
    expect(row.locator(".test-result")).to_contain_text("needs to be reconnected to Xero")
    page.reload()
    row = page.locator(".connection-row", has_text="Bakery books")
    expect(row.locator(".reconnect-needed")).to_be_visible()
    screenshot(page, "connections-reconnect-needed", full_page=False)
    row.get_by_role("button", name="Reconnect").click()
    page.locator("#allow").click()
    page.wait_for_url(re.compile(r"/connections/?\?connected="))
    expect(page.locator(".connection-row", has_text="Bakery books").locator(".reconnect-needed")).to_have_count(0)

    # Renaming an OAuth connection keeps its tokens (Save, not Reconnect).
    page.locator(".connection-row", has_text="Bakery books").get_by_role("button", name="Edit").click()
    expect(page.locator("#connection-reconnect")).to_be_visible()
    page.locator("#conn-name").fill("Bakery ledger")
    page.locator("#connection-save").click()
    row = page.locator(".connection-row", has_text="Bakery ledger")
    expect(row).to_contain_text("Access token")
    row.get_by_role("button", name="Test").click()
    expect(row.locator(".test-result")).to_contain_text("Connected to Harbour Bakery Pty Ltd")
    assert not page.js_errors
