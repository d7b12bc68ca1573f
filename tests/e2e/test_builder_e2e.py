"""The workflow builder in Chromium against the real app, as a person uses it.

Sign up → build a webhook workflow with three steps (log, transform, log referring to the
transform's output through the expression helper) → save → test run with a sample payload →
every step goes to "succeeded" live, with its output shown → the run detail link.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from browser_helpers import PHONE, screenshot, sign_up
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
DARK = re.compile(r"\bdark\b")


def _step(page: Page, number: int):
    return page.get_by_role("group", name=re.compile(rf"^Step {number}: "))


def _add_step(page: Page, title: str) -> None:
    page.get_by_role("button", name="Add step").click()
    page.get_by_role("menuitem", name=re.compile(rf"^{re.escape(title)}")).click()


def _step_keys(page: Page) -> list[str]:
    return page.locator("[data-step-key]").evaluate_all("els => els.map(e => e.dataset.stepKey)")


def _toggle_dark(page: Page) -> None:
    page.get_by_role("button", name="Toggle dark mode").click()
    expect(page.locator("html")).to_have_class(DARK)


def test_build_save_and_test_run_a_webhook_workflow(page: Page, app_server) -> None:
    sign_up(page, app_server.base_url, f"builder-{uuid.uuid4().hex[:8]}@example.com.au", PASSWORD)

    page.goto("/workflows/new")
    name = page.get_by_label("Workflow name")
    expect(name).to_be_visible()
    name.fill("Lead intake")
    expect(page.get_by_text("New, not saved yet")).to_be_visible()
    # A new workflow starts with a webhook trigger.
    expect(page.get_by_role("radio", name="Webhook")).to_be_checked()

    # Step 1: core.log
    _add_step(page, "Log")
    step1 = _step(page, 1)
    step1.get_by_label("Message", exact=True).fill("New lead from {{ trigger.body.email }}")

    # Step 2: data.transform, with a JSON mapping; invalid JSON is flagged while typing.
    _add_step(page, "Transform data")
    step2 = _step(page, 2)
    mapping = step2.get_by_label("Mapping", exact=True)
    mapping.fill('{"greeting": "Hi {{ trigger.body.name }}"')
    expect(step2.get_by_role("alert")).to_contain_text("Not valid JSON")
    mapping.fill(json.dumps({"greeting": "Hi {{ trigger.body.name }}", "email": "{{ trigger.body.email | lower }}"}))
    expect(step2.get_by_role("alert")).to_have_count(0)

    # Step 3: core.log that refers to step 2's output through the expression helper.
    _add_step(page, "Log")
    step3 = _step(page, 3)
    step3.get_by_label("Message", exact=True).fill("Said:")
    step3.get_by_role("button", name="Insert a reference into Message").click()
    page.get_by_role("menuitem", name="steps.transform.output.greeting").click()
    expect(step3.get_by_label("Message", exact=True)).to_have_value("Said: {{ steps.transform.output.greeting }}")
    step3.get_by_label("Level", exact=True).click()
    page.get_by_role("option", name="warning").click()

    # Reorder with the keyboard-usable buttons, and back.
    assert _step_keys(page) == ["log", "transform", "log_2"]
    page.get_by_role("button", name="Move step 3 up").click()
    expect(page.locator("[data-step-key]").nth(1)).to_have_attribute("data-step-key", "log_2")
    page.get_by_role("button", name="Move step 2 down").click()
    expect(page.locator("[data-step-key]").nth(2)).to_have_attribute("data-step-key", "log_2")

    # Save: the workflow is created and the builder reopens on its own URL with a webhook URL.
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f-]{8,}$"), timeout=15_000)
    expect(page.locator("#version-badge")).to_have_text("Version 1")
    expect(page.locator("#webhook-url")).to_contain_text(f"{app_server.base_url}/hooks/")
    expect(page.locator("#unsaved-badge")).to_have_count(0)

    # An edit shows the unsaved badge; saving bumps the version.
    _step(page, 1).get_by_label("Step name", exact=True).fill("Note the lead")
    expect(page.locator("#unsaved-badge")).to_be_visible()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#version-badge")).to_have_text("Version 2")
    expect(page.locator("#unsaved-badge")).to_have_count(0)
    screenshot(page, "builder-desktop-light")

    # Test run with a sample payload: each step turns green live, with its output.
    page.get_by_label("Sample request body (JSON)").fill(json.dumps({"email": "Ana@Example.com.au", "name": "Ana"}))
    page.get_by_role("button", name="Run test").click()
    rows = page.locator("[data-test-step]")
    expect(rows).to_have_count(3)
    for key in ("log", "transform", "log_2"):
        expect(page.locator(f'[data-test-step="{key}"]')).to_have_attribute("data-status", "succeeded",
                                                                            timeout=20_000)
    transform = page.locator('[data-test-step="transform"]')
    transform.get_by_text("Output").click()
    expect(transform).to_contain_text("Hi Ana")
    expect(transform).to_contain_text("ana@example.com.au")
    last = page.locator('[data-test-step="log_2"]')
    last.get_by_text("Input").click()
    expect(last).to_contain_text("Said: Hi Ana")
    screenshot(page, "builder-test-run-desktop-light")

    detail = page.get_by_role("link", name="Open run details")
    expect(detail).to_have_attribute("href", re.compile(r"^/runs/[0-9a-f-]{8,}$"))
    _toggle_dark(page)
    screenshot(page, "builder-desktop-dark")

    page.set_viewport_size(PHONE)
    screenshot(page, "builder-phone-dark")
    page.get_by_role("button", name="Toggle dark mode").click()
    screenshot(page, "builder-phone-light")

    # The run detail page (runs feature) shows the same run.
    page.set_viewport_size({"width": 1280, "height": 800})
    detail.click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{8,}$"))
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_cron_preview_and_inline_errors(page: Page, app_server) -> None:
    sign_up(page, app_server.base_url, f"cron-{uuid.uuid4().hex[:8]}@example.com.au", PASSWORD)
    page.goto("/workflows/new")
    expect(page.get_by_label("Workflow name")).to_be_visible()
    page.get_by_role("radio", name="Schedule").click()
    expression = page.get_by_label("Cron expression")
    expression.fill("*/15 9-17 * * 1-5")
    expect(page.locator("#cron-description")).to_contain_text("Every 15 minutes")
    expect(page.locator("#cron-next li")).to_have_count(5)
    expression.fill("61 * * * *")
    expect(page.locator("#cron-error")).to_contain_text("not a valid cron expression")
    expect(page.locator("#cron-next li")).to_have_count(0)
    expression.fill("0 9 * * 1-5")
    expect(page.locator("#cron-description")).to_contain_text("09:00 AM")

    # A step with a missing required field and a bad key: the service's errors show inline.
    _add_step(page, "HTTP request")
    step = _step(page, 1)
    step.get_by_label("Step key", exact=True).fill("1st call")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#banner-error")).to_contain_text("highlighted field")
    screenshot(page, "builder-errors-desktop-light")
    expect(step.get_by_text("Required")).to_be_visible()
    expect(step.get_by_text(re.compile("Use lowercase letters, digits and _"))).to_be_visible()
    step.get_by_label("Step key", exact=True).fill("call_api")
    step.get_by_label("URL", exact=True).fill("https://api.example.com/v1/leads")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f-]{8,}$"), timeout=15_000)
    expect(page.get_by_label("Cron expression")).to_have_value("0 9 * * 1-5")
