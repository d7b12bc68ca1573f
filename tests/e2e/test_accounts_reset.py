"""Password reset in the browser: the mail reaches a real SMTP server, the link works once, every
other session of the account ends, and an unknown address gets exactly the same answer."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from accounts_helpers import link_in, mail_count, mail_to
from browser_helpers import DESKTOP, log_in, screenshot, sign_up
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser
PASSWORD = "correct horse 1"
NEW_PASSWORD = "battery staple 2"


def _ask(page: Page, email: str) -> tuple[str, float]:
    """Ask for a reset link in a fresh tab (as someone following the "Forgot password?" link)."""
    page = page.context.new_page()
    page.goto("/forgot")
    expect(page.locator("#forgot-submit")).to_be_enabled()
    page.get_by_label("Email").fill(email)
    t0 = time.perf_counter()
    page.locator("#forgot-submit").click()
    expect(page.locator("#forgot-sent")).to_be_visible()
    elapsed = time.perf_counter() - t0
    text = page.locator("#forgot-sent").inner_text()
    screenshot(page, "accounts-forgot-sent")
    page.close()
    return text, elapsed


def test_reset_link_works_once_and_ends_other_sessions(page: Page, browser: Browser, app_server,
                                                       mail_sink) -> None:
    email = f"rita-{uuid.uuid4().hex[:6]}@example.com"
    sign_up(page, app_server.base_url, email, PASSWORD, workspace="Reset Co")
    laptop = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url).new_page()
    log_in(laptop, app_server.base_url, email, PASSWORD)

    stranger = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url).new_page()
    stranger.goto("/login")
    stranger.locator("#forgot-link").click()
    expect(stranger).to_have_url(f"{app_server.base_url}/forgot")
    known_text, _ = _ask(stranger, email)
    unknown_text, _ = _ask(stranger, f"nobody-{uuid.uuid4().hex[:6]}@example.com")
    assert known_text == unknown_text  # no account enumeration

    mail = mail_to(mail_sink, email, "Reset your FlowMate password")
    link = link_in(mail, "/reset/")
    stranger.goto(link)
    expect(stranger.get_by_text(email)).to_be_visible()
    stranger.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    stranger.get_by_label("Repeat the new password").fill("something else 3")
    stranger.locator("#reset-submit").click()
    expect(stranger.locator("#reset-error")).to_contain_text("differ")
    stranger.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    stranger.locator("#reset-submit").click()
    expect(stranger.locator("#login-notice")).to_contain_text("password was changed")

    # Both earlier sessions are over.
    for other in (page, laptop):
        other.goto("/workflows")
        expect(other).to_have_url(re.compile(r"/login\?next=%2Fworkflows"))

    # The link worked once; the new password works, the old one does not.
    stranger.goto(link)
    expect(stranger.locator("#reset-invalid")).to_contain_text("not valid any more")
    log_in(stranger, app_server.base_url, email, PASSWORD, expect_dashboard=False)
    expect(stranger.locator("#auth-error")).to_be_visible()
    log_in(stranger, app_server.base_url, email, NEW_PASSWORD)
    assert mail_count(mail_sink, email, "Reset your FlowMate password") == 1
    laptop.context.close()
    stranger.context.close()


def test_unknown_email_gets_the_same_answer_in_the_same_time(page: Page, app_server, mail_sink) -> None:
    email = f"tim-{uuid.uuid4().hex[:6]}@example.com"
    sign_up(page, app_server.base_url, email, PASSWORD, workspace="Timing Co")
    known, unknown = [], []
    for _ in range(5):  # interleaved, so both see the same load on a shared machine
        known.append(_ask(page, email))
        unknown.append(_ask(page, f"ghost-{uuid.uuid4().hex[:6]}@example.com"))
    assert {t for t, _ in known} == {t for t, _ in unknown}
    median = lambda xs: sorted(x for _, x in xs)[2]  # noqa: E731
    # Both are padded to the same floor server-side; what is left is browser and network noise.
    assert abs(median(known) - median(unknown)) < 0.3, ([x for _, x in known], [x for _, x in unknown])
