"""Settings → Data and the builder's cross-border notice, in Chromium against the real app.

An AU workspace with a Twilio (US) and a ClickSend (AU) connection: the builder shows the APP 8
notice on an SMS step while it uses Twilio and not once it uses ClickSend; the Data page lists
the flow, builds a workspace export with progress and a working download, and counts a customer
before erasing them.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from pathlib import Path

import pytest
from browser_helpers import screenshot, sign_up
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


def _api(page: Page, base_url: str, path: str, body: dict) -> dict:
    r = page.request.post(base_url.rstrip("/") + path, data=body, headers={"Origin": base_url.rstrip("/")})
    assert r.ok, (path, r.status, r.text())
    return r.json()


def test_cross_border_notice_and_the_data_page(page: Page, app_server) -> None:
    base = app_server.base_url
    sign_up(page, base, f"data-{uuid.uuid4().hex[:8]}@example.com.au", PASSWORD, workspace="Bondi Bakery")
    _api(page, base, "/api/v1/connections", {"type": "twilio", "name": "Twilio SMS", "config": {
        "account_sid": "AC123"}, "secret": {"auth_token": "tw-secret-token"}})
    _api(page, base, "/api/v1/connections", {"type": "clicksend", "name": "ClickSend SMS", "config": {
        "username": "bakery"}, "secret": {"api_key": "cs-secret-key"}})
    wf = _api(page, base, "/api/v1/workflows", {
        "name": "Order ready SMS", "trigger": {"type": "webhook", "config": {}},
        "steps": [{"key": "text", "action": "sms.send", "config": {
            "connection": "Twilio SMS", "to": "{{ trigger.body.phone }}", "body": "Your order is ready"}}]})
    hook = page.request.post(base.rstrip("/") + wf["trigger"]["webhook_path"],
                             data={"email": "jo@example.com", "phone": "0412 345 678"})
    assert hook.status == 202

    # Builder: the notice is on the Twilio step, and goes away with ClickSend.
    page.goto(base.rstrip("/") + f"/workflows/{wf['id']}")
    step = page.get_by_role("group", name=re.compile(r"^Step 1: "))
    notice = step.locator(".cross-border-notice")
    expect(notice).to_be_visible(timeout=20_000)
    expect(notice).to_contain_text("Australian Privacy Principle 8")
    expect(notice).to_contain_text("United States")
    screenshot(page, "builder-cross-border-notice", full_page=False)
    step.get_by_label("SMS connection", exact=True).click()
    page.get_by_role("option", name="ClickSend SMS").click()
    expect(notice).to_have_count(0)

    # Data page from the account menu: the (saved) Twilio flow is listed.
    page.goto(base.rstrip("/") + "/")
    page.locator("#user-menu").click()
    page.get_by_role("menuitem", name="Your data").click()
    expect(page.get_by_role("heading", name="Data", level=1)).to_be_visible(timeout=20_000)
    flows = page.locator("#cross-border-list .cross-border-flow")
    expect(flows).to_have_count(1)
    expect(flows.first).to_contain_text("Order ready SMS")
    expect(flows.first).to_contain_text("United States")

    # Export the workspace: it builds in the background, then a download link appears.
    page.get_by_role("button", name="Export workspace").click()
    download_button = page.locator(".export-download").first
    expect(download_button).to_be_visible(timeout=30_000)
    with page.expect_download() as info:
        download_button.click()
    data = Path(info.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "manifest.json" in zf.namelist() and "runs.jsonl" in zf.namelist()
        everything = b"".join(zf.read(n) for n in zf.namelist())
    assert b"tw-secret-token" not in everything and b"cs-secret-key" not in everything

    # Erase a customer: count first, then erase.
    page.get_by_label("Email address or phone number to erase").fill("+61 412 345 678")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#subject-count")).to_contain_text("Found in 1 run (")
    screenshot(page, "data-page")
    page.get_by_role("button", name="Erase", exact=True).click()
    page.locator(".confirm-action").click()
    expect(page.get_by_text(re.compile(r"Erased \d+ values? in 1 run\b"))).to_be_visible()
