"""A Shopify-signed webhook trigger configured in the builder, as a shop owner would set it up.

Sign up → new workflow → "Shopify" caller authentication with the app's client secret and the
topic filter → save → Shopify-style deliveries from outside the browser: one signed the way
Shopify signs (base64 HMAC-SHA256 of the raw body), one unsigned → exactly one run in the list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid

import httpx
import pytest
from browser_helpers import screenshot, sign_up
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
SECRET = "shpss_e2e_" + uuid.uuid4().hex


def test_shopify_signed_webhook_configured_in_the_builder(page: Page, app_server) -> None:
    sign_up(page, app_server.base_url, f"shop-{uuid.uuid4().hex[:8]}@example.com.au", PASSWORD)
    page.goto("/workflows/new")
    page.get_by_label("Workflow name").fill("Shopify orders")
    expect(page.get_by_role("radio", name="Webhook")).to_be_checked()

    page.locator("#auth-type").click()
    page.get_by_role("option", name=re.compile(r"^Shopify")).click()
    page.get_by_label("Client secret (signing secret)").fill(SECRET)
    page.get_by_label("Only these events").fill("orders/create")
    expect(page.get_by_text("Unsigned or tampered deliveries are refused")).to_be_visible()
    page.get_by_role("button", name="Add step").click()
    page.get_by_role("menuitem", name=re.compile(r"^Log")).click()
    page.get_by_role("group", name=re.compile(r"^Step 1: ")).get_by_label("Message", exact=True).fill(
        "Order {{ trigger.body.id }}")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#version-badge")).to_have_text("Version 1", timeout=15_000)
    url = page.locator("#webhook-url").inner_text().strip()
    assert "/hooks/" in url
    # The secret is write-only: after saving, the field is empty and says one is saved.
    expect(page.get_by_label("Client secret (signing secret)")).to_have_value("")
    expect(page.get_by_label("Client secret (signing secret)")).to_have_attribute("placeholder", re.compile("saved"))
    expect(page.get_by_label("Only these events")).to_have_value("orders/create")
    screenshot(page, "builder-shopify-webhook")

    body = json.dumps({"id": 450789469, "email": "jo@bakery.example.com.au", "total_price": "41.50"}).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
               "X-Shopify-Shop-Domain": "bakery.myshopify.com", "X-Shopify-Webhook-Id": str(uuid.uuid4())}
    signed = httpx.post(url, content=body, headers={**headers, "X-Shopify-Hmac-Sha256": signature})
    assert signed.status_code == 202, signed.text
    unsigned = httpx.post(url, content=body, headers={**headers, "X-Shopify-Webhook-Id": str(uuid.uuid4())})
    assert unsigned.status_code == 401
    assert "X-Shopify-Hmac-Sha256" in unsigned.json()["error"]["message"]

    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Runs").click()
    rows = page.locator("#run-list .run-row")
    expect(rows).to_have_count(1, timeout=15_000)
    expect(rows.first).to_have_attribute("data-run-id", signed.json()["run_id"])
    screenshot(page, "runs-after-shopify-webhook")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_polling_template_says_the_first_poll_is_a_starting_point(page: Page, app_server) -> None:
    """A polling trigger from the gallery: the builder says what the first poll does (no replay)."""
    sign_up(page, app_server.base_url, f"poll-{uuid.uuid4().hex[:8]}@example.com.au", PASSWORD)
    page.goto("/templates")
    card = page.locator('[data-template="sheet-row-to-mailchimp"]')
    expect(card).to_be_visible()
    card.get_by_role("button", name=re.compile("^Use template")).click()
    page.get_by_role("dialog").get_by_role("button", name="Create workflow").click()
    expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f-]{8,}$"), timeout=15_000)
    expect(page.locator("#poll-note")).to_contain_text("first poll records what is already there")
    # The app's scheduler may already have tried: the sheet's connection does not exist here, so
    # either nothing was polled yet or the failure is shown; no starting point is claimed either way.
    expect(page.locator("#poll-status")).to_contain_text(re.compile("Not polled yet|No starting point yet"))
    if "No starting point" in page.locator("#poll-status").inner_text():
        expect(page.locator("#poll-error")).to_contain_text("connection 'google' not found")
    screenshot(page, "builder-polling-trigger")
    assert page.js_errors == []  # type: ignore[attr-defined]
