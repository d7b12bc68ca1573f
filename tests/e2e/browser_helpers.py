"""Helpers for browser tests (import as ``from browser_helpers import ...``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

CHROMIUM = os.environ.get("FLOWMATE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of ``page`` to test-artifacts/screenshots/<name>.png and return its path.

    Finite CSS animations and transitions (a drawer sliding in) are fast-forwarded to their end
    state, so the picture shows what a person sees once the UI settles.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def sign_up(page: Page, base_url: str, email: str, password: str, *, name: str = "",
            workspace: str = "") -> None:
    """Create an account (and its workspace) through /signup and wait for the dashboard.

    The browser context keeps the session cookie, so later ``page.goto`` calls are signed in.
    """
    from playwright.sync_api import expect

    page.goto(base_url.rstrip("/") + "/signup")
    if name:
        page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    if workspace:
        page.get_by_label("Workspace name").fill(workspace)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible(timeout=20_000)


def log_in(page: Page, base_url: str, email: str, password: str, *, expect_dashboard: bool = True) -> None:
    """Log in through /login (optionally waiting for the dashboard)."""
    from playwright.sync_api import expect

    page.goto(base_url.rstrip("/") + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    if expect_dashboard:
        expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible(timeout=20_000)
