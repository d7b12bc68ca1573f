"""Smoke test of the app shell as a person sees it: navigation, heading, dark mode, phone layout."""

from __future__ import annotations

import re
import uuid

import pytest
from browser_helpers import PHONE, screenshot, sign_up
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

NAV_LABELS = ["Dashboard", "Workflows", "Runs", "Templates", "Connections", "Audit log", "Settings"]
DARK = re.compile(r"\bdark\b")


def _nav(page: Page):
    return page.get_by_role("navigation", name="Main navigation")


def _toggle_dark(page: Page) -> None:
    html = page.locator("html")
    expect(html).not_to_have_class(DARK)
    page.get_by_role("button", name="Toggle dark mode").click()
    expect(html).to_have_class(DARK)


def _signed_in(page: Page) -> None:
    """Every page but /login and /signup needs an account: make a fresh one (own workspace)."""
    sign_up(page, "", f"smoke-{uuid.uuid4().hex[:8]}@example.com", "correct horse 1")


def _assert_clean(page: Page) -> None:
    assert page.js_errors == []  # type: ignore[attr-defined]
    assert page.failed_responses == []  # type: ignore[attr-defined]


def test_dashboard_desktop_light_and_dark(page: Page) -> None:
    _signed_in(page)
    page.goto("/")
    expect(page).to_have_title("Dashboard · FlowMate")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    nav = _nav(page)
    expect(nav).to_be_visible()
    for label in NAV_LABELS:
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    expect(nav.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", name="No workflows yet")).to_be_visible()
    screenshot(page, "dashboard-desktop-light")

    _toggle_dark(page)
    screenshot(page, "dashboard-desktop-dark")

    # The choice is remembered across a reload.
    page.reload()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.locator("html")).to_have_class(DARK)
    _assert_clean(page)


def test_dashboard_phone_light_and_dark(page: Page) -> None:
    page.set_viewport_size(PHONE)
    _signed_in(page)
    page.goto("/")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    # The sidebar gives way to a menu button on a phone.
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(page.get_by_role("button", name="Open menu")).to_be_visible()
    expect(page.get_by_role("heading", name="No workflows yet")).to_be_visible()
    screenshot(page, "dashboard-phone-light")

    _toggle_dark(page)
    screenshot(page, "dashboard-phone-dark")

    page.get_by_role("button", name="Open menu").click()
    nav = _nav(page)
    for label in NAV_LABELS:
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    screenshot(page, "dashboard-phone-menu", full_page=False)
    nav.get_by_role("link", name="Runs").click()
    expect(page).to_have_url(re.compile(r"/runs$"))
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible()
    _assert_clean(page)


def test_every_sidebar_link_opens_its_page(page: Page) -> None:
    _signed_in(page)
    page.goto("/")
    for label in NAV_LABELS[1:]:
        _nav(page).get_by_role("link", name=label).click()
        expect(page.get_by_role("heading", name=label, level=1)).to_be_visible()
        expect(_nav(page).get_by_role("link", name=label)).to_have_attribute("aria-current", "page")
    _assert_clean(page)


def test_rest_api_served_beside_the_ui(page: Page) -> None:
    response = page.request.get("/api/health")
    assert response.ok
    assert response.json()["status"] == "ok"


def test_api_docs_render_without_internet(page: Page, app_server) -> None:
    """A self-hosted box may have no internet: /api/docs must render from FlowMate's own files.
    Every request that leaves the app's origin is aborted, as it would fail there."""
    own = app_server.base_url.rstrip("/")
    outside: list[str] = []

    def only_own(route) -> None:
        if route.request.url.startswith(own):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_own)
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("FlowMate API")
    expect(page.locator("#operations-tag-webhooks")).to_be_visible()
    expect(page.get_by_text("Webhook intake (POST): start a run")).to_be_visible()
    screenshot(page, "api-docs-desktop-light", full_page=False)
    assert outside == []
    _assert_clean(page)
