"""Two-factor authentication in Chromium: set-up with a code computed from the key the page shows,
login then asks for the code (a wrong one is refused), a recovery code works once, a workspace
that requires MFA makes its members set it up at their next login, and an account without a
password (single sign-on only) deletes itself through an emailed link."""

from __future__ import annotations

import re
import time
import uuid

import pyotp
import pytest
from accounts_helpers import link_in, mail_to
from browser_helpers import DESKTOP, PHONE, log_in, screenshot, sign_up
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser
PASSWORD = "correct horse 1"


def _fresh(browser: Browser, app_server, viewport: dict = DESKTOP) -> Page:
    context = browser.new_context(viewport=viewport, base_url=app_server.base_url)
    context.set_default_timeout(15_000)
    return context.new_page()


def _dashboard(page: Page) -> None:
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible(timeout=20_000)


def _key(page: Page) -> pyotp.TOTP:
    """The key as a person would type it into their app (the page groups it in fours)."""
    expect(page.locator("#mfa-secret")).to_be_visible()
    return pyotp.TOTP(page.locator("#mfa-secret").inner_text().replace(" ", "").strip())


def _later(totp: pyotp.TOTP, steps: int = 1) -> str:
    """A code for a coming 30-second step (accepted for clock drift, never used before)."""
    return totp.at(time.time() + 30 * steps)


def _turn_on(page: Page, shot: str = "") -> tuple[pyotp.TOTP, list[str]]:
    page.goto("/account")
    page.locator("#mfa-start").click()
    totp = _key(page)
    expect(page.locator("#mfa-qr")).to_be_visible()
    if shot:
        screenshot(page, shot)
    page.locator("#mfa-setup-code").fill("000000")
    page.locator("#mfa-confirm").click()
    expect(page.locator("#mfa-error")).to_contain_text("not correct")
    page.locator("#mfa-setup-code").fill(totp.now())
    page.locator("#mfa-confirm").click()
    expect(page.locator("#recovery-codes")).to_be_visible()
    codes = [c.strip() for c in page.locator(".recovery-code").all_inner_texts()]
    assert len(codes) == 10
    page.locator("#mfa-codes-done").click()
    expect(page.locator("#mfa-on-badge")).to_be_visible()
    expect(page.locator("#mfa-codes-left")).to_contain_text("10 of 10")
    return totp, codes


def _password_step(page: Page, email: str) -> None:
    """Email and password on /login; the browser lands on the code step, not in the app.

    Generous timeouts: on a loaded machine the page's websocket may connect seconds after load,
    and the form's event waits for it."""
    log_in(page, "", email, PASSWORD, expect_dashboard=False)
    expect(page).to_have_url(re.compile(r"/login/mfa"), timeout=30_000)
    expect(page.locator("#field-code")).to_be_visible(timeout=30_000)


def test_mfa_setup_then_login_needs_the_code_and_a_recovery_code_works_once(page: Page, browser: Browser,
                                                                             app_server) -> None:
    email = f"mfa-{uuid.uuid4().hex[:6]}@example.com"
    sign_up(page, app_server.base_url, email, PASSWORD, workspace="Second Factor Co")
    phone = _fresh(browser, app_server, PHONE)
    log_in(phone, app_server.base_url, email, PASSWORD)
    phone.goto("/account")
    phone.locator("#mfa-start").click()
    _key(phone)
    phone.locator("#mfa-setup").scroll_into_view_if_needed()
    screenshot(phone, "accounts-mfa-setup-phone", full_page=False)
    phone.context.close()
    totp, codes = _turn_on(page, "accounts-mfa-setup")

    # The password alone no longer signs in.
    laptop = _fresh(browser, app_server)
    _password_step(laptop, email)
    expect(laptop.locator("#field-code")).to_be_focused()
    screenshot(laptop, "accounts-mfa-prompt")
    laptop.goto("/workflows")
    expect(laptop).to_have_url(re.compile(r"/login\?next=%2Fworkflows"))
    _password_step(laptop, email)
    laptop.locator("#field-code").fill("000000")
    laptop.locator("#mfa-submit").click()
    expect(laptop.locator("#auth-error")).to_contain_text("not correct")
    laptop.locator("#field-code").fill(_later(totp))
    laptop.locator("#mfa-submit").click()
    _dashboard(laptop)

    small = _fresh(browser, app_server, PHONE)
    _password_step(small, email)
    expect(small.locator("#mfa-submit")).to_be_visible()
    screenshot(small, "accounts-mfa-prompt-phone")
    small.locator("#field-code").fill(codes[0])
    small.locator("#mfa-submit").click()
    _dashboard(small)
    small.goto("/account")
    expect(small.locator("#mfa-codes-left")).to_contain_text("9 of 10")

    again = _fresh(browser, app_server)
    _password_step(again, email)
    again.locator("#field-code").fill(codes[0])
    again.locator("#mfa-submit").click()
    expect(again.locator("#auth-error")).to_contain_text("not correct")
    for p in (laptop, small, again):
        p.context.close()


def _invite(page: Page, email: str, role: str) -> None:
    page.goto("/members")
    page.locator("#member-email").fill(email)
    page.locator("#invite-role").click()
    page.get_by_role("option", name=role.capitalize(), exact=True).click()
    page.locator("#invite-send").click()
    expect(page.locator(".invitation-row", has_text=email)).to_be_visible()


def test_a_workspace_that_requires_mfa_makes_members_set_it_up(page: Page, browser: Browser, app_server,
                                                               mail_sink) -> None:
    tag = uuid.uuid4().hex[:6]
    owner, member, workspace = f"owner-{tag}@example.com", f"member-{tag}@example.com", f"Strict Co {tag}"
    sign_up(page, app_server.base_url, owner, PASSWORD, name="Olga Owner", workspace=workspace)
    _invite(page, member, "editor")
    guest = _fresh(browser, app_server)
    guest.goto(link_in(mail_to(mail_sink, member, workspace), "/invite/"))
    guest.get_by_label("Password").fill(PASSWORD)
    guest.locator("#invite-signup").click()
    _dashboard(guest)

    # Only after the owner has MFA can they require it.
    page.goto("/members")
    page.locator("#policy-require-mfa").click()
    page.locator("#policy-save").click()
    expect(page.locator("#policy-error")).to_contain_text("turn on two-factor authentication for yourself first")
    _turn_on(page)
    page.goto("/members")
    page.locator("#policy-require-mfa").click()
    page.locator("#policy-save").click()
    expect(page.get_by_text("Sign-in rules saved")).to_be_visible()

    # The member's open session cannot use the workspace any more; the next login sets MFA up.
    guest.goto("/workflows")
    expect(guest).to_have_url(re.compile(r"/login\?next="))
    _password_step(guest, member)
    expect(guest.locator("#mfa-required-by")).to_contain_text(workspace)
    totp = _key(guest)
    screenshot(guest, "accounts-mfa-required-setup")
    guest.locator("#field-code").fill(totp.now())
    guest.locator("#mfa-setup-submit").click()
    expect(guest.locator("#recovery-codes")).to_be_visible()
    guest.locator("#mfa-continue").click()
    _dashboard(guest)
    guest.goto("/account")
    expect(guest.locator("#mfa-on-badge")).to_be_visible()
    expect(guest.locator("#mfa-disable")).to_have_count(0)  # cannot be turned off while required
    guest.context.close()


def test_an_sso_only_account_deletes_itself_through_an_emailed_link(browser: Browser, app_server, mail_sink,
                                                                    oidc_idp) -> None:
    tag = uuid.uuid4().hex[:6]
    domain = f"del-{tag}.com.au"
    email = f"sam@{domain}"
    # A workspace the SSO person joins by domain (so they own none, which would block deletion).
    owner = _fresh(browser, app_server)
    sign_up(owner, app_server.base_url, f"boss-{tag}@example.com", PASSWORD, workspace=f"Join Co {tag}")
    owner.goto("/members")
    owner.locator("#policy-domains").fill(domain)
    owner.locator("#policy-save").click()
    expect(owner.get_by_text("Sign-in rules saved")).to_be_visible()

    oidc_idp.fault = None
    oidc_idp.user = {"sub": f"del-{tag}", "email": email, "email_verified": True, "name": "Sam"}
    person = _fresh(browser, app_server)
    person.goto("/login")
    person.locator("#sso-localidp").click()
    _dashboard(person)
    # Settings → Data asks no password of an account that has none: it points to the emailed link.
    person.goto("/settings/data")
    expect(person.locator("#delete-account-sso-link")).to_be_visible()
    expect(person.locator("#delete-account-password")).to_have_count(0)
    screenshot(person, "data-sso-only-delete")
    person.locator("#delete-account-sso-link").click()
    expect(person).to_have_url(re.compile(r"/account$"))
    expect(person.locator("#send-delete-link")).to_be_visible()
    person.locator("#send-delete-link").click()
    expect(person.locator("#delete-link-sent")).to_contain_text(email)
    screenshot(person, "accounts-sso-delete-link")
    link = link_in(mail_to(mail_sink, email, "Confirm deleting your FlowMate account"), "/account/delete/")
    person.goto(link)
    expect(person.get_by_text(email)).to_be_visible()
    person.locator("#confirm-delete-account").click()
    expect(person.locator("#login-notice")).to_contain_text("account was deleted")
    person.goto(link)
    expect(person.locator("#delete-invalid")).to_contain_text("not valid any more")
    person.goto("/workflows")
    expect(person).to_have_url(re.compile(r"/login"))
    owner.goto("/members")
    expect(owner.locator(".member-row", has_text=email)).to_have_count(0)
    for p in (owner, person):
        p.context.close()
