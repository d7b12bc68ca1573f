"""The template gallery in Chromium: search, filter, preview, "use template" with a variable form
(field-level errors from the catalogue service), and the new workflow opening in the builder."""

from __future__ import annotations

import re
import uuid

import pytest
from browser_helpers import PHONE, screenshot, sign_up
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
DARK = re.compile(r"\bdark\b")


def test_search_preview_and_use_a_template(page: Page, app_server) -> None:
    sign_up(page, app_server.base_url, f"gallery-{uuid.uuid4().hex[:8]}@example.com.au", PASSWORD)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Templates").click()
    expect(page.get_by_role("heading", name="Templates", level=1)).to_be_visible()
    cards = page.locator("[data-template]")
    expect(cards.first).to_be_visible()
    total = cards.count()
    assert total >= 12
    screenshot(page, "gallery-desktop-light")

    # Category filter, then back to all.
    page.get_by_role("group", name="Filter by category").get_by_role("button", name="Reporting").click()
    expect(cards).not_to_have_count(total)
    for i in range(cards.count()):
        expect(cards.nth(i)).to_contain_text("Reporting")
    page.get_by_role("group", name="Filter by category").get_by_role("button", name="All").click()
    expect(cards).to_have_count(total)

    # Search narrows the list; nonsense shows the empty state.
    search = page.get_by_label("Search templates")
    search.fill("zzzz-nothing")
    expect(page.get_by_text("No template matches")).to_be_visible()
    search.fill("daily slack")
    expect(cards).to_have_count(1)
    card = page.locator('[data-template="daily-slack-report"]')
    expect(card).to_be_visible()

    # Preview lists the steps.
    card.get_by_role("button", name=re.compile("^Preview")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("#template-steps")).to_be_visible()
    expect(dialog).to_contain_text("Slack")
    screenshot(page, "gallery-preview-desktop-light", full_page=False)

    # Use template → variables with defaults; a bad value is refused next to its field.
    dialog.get_by_role("button", name="Use template").click()
    variable = dialog.locator('[data-variable="report_hour"]')
    hour = variable.get_by_label("Hour of day")
    expect(hour).to_have_value("17")
    hour.fill("25")
    dialog.get_by_label("Workflow name").fill("Morning numbers to Slack")
    dialog.get_by_role("button", name="Create workflow").click()
    expect(variable.get_by_role("alert")).to_contain_text("between 0 and 23")
    expect(dialog.locator("#template-form-error")).to_be_visible()
    screenshot(page, "gallery-form-errors-desktop-light", full_page=False)
    hour.fill("8")
    expect(variable.get_by_role("alert")).to_have_count(0)
    dialog.get_by_role("button", name="Create workflow").click()

    # The new workflow opens in the builder with the template's steps and the chosen schedule.
    expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f-]{8,}$"), timeout=15_000)
    expect(page.get_by_label("Workflow name")).to_have_value("Morning numbers to Slack")
    expect(page.get_by_label("Cron expression")).to_have_value(re.compile(r"^0 8 \* \* "))
    expect(page.locator("#cron-next li")).to_have_count(5)
    expect(page.locator("[data-step-key]").first).to_be_visible()
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_gallery_phone_and_dark(page: Page, app_server) -> None:
    sign_up(page, app_server.base_url, f"gallery-ph-{uuid.uuid4().hex[:8]}@example.com.au", PASSWORD)
    page.goto("/templates")
    expect(page.locator("[data-template]").first).to_be_visible()
    page.get_by_role("button", name="Toggle dark mode").click()
    expect(page.locator("html")).to_have_class(DARK)
    screenshot(page, "gallery-desktop-dark")
    page.set_viewport_size(PHONE)
    screenshot(page, "gallery-phone-dark")
    page.get_by_role("button", name="Toggle dark mode").click()
    screenshot(page, "gallery-phone-light")
    page.locator('[data-template="new-lead-welcome"]').get_by_role("button", name=re.compile("^Use template")).click()
    expect(page.get_by_role("dialog").locator("[data-variable]").first).to_be_visible()
    screenshot(page, "gallery-form-phone-light", full_page=False)
