"""Sign-in with OpenID Connect in Chromium, against a local provider that speaks the real protocol
(discovery, authorize, token with PKCE, JWKS, RS256 ID tokens):

- the first sign-in creates the account (with its own workspace); a verified address links to an
  existing password account;
- an unverified address, a wrong nonce, an expired token, a token signed by another key and a
  token for another audience are each refused with a clear message on /login;
- a workspace's allowed domain makes people join with its default role;
- "require SSO" stops password logins of that workspace's members (SSO still works).
"""

from __future__ import annotations

import re
import uuid

import pytest
from browser_helpers import DESKTOP, log_in, screenshot, sign_up
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser
PASSWORD = "correct horse 1"


@pytest.fixture
def idp(oidc_idp):
    oidc_idp.fault = None
    yield oidc_idp
    oidc_idp.fault = None


def _fresh(browser: Browser, app_server) -> Page:
    context = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url)
    context.set_default_timeout(15_000)
    return context.new_page()


def _sso(page: Page, start: str = "/login") -> None:
    page.goto(start)
    page.locator("#sso-localidp").click()


def _dashboard(page: Page) -> None:
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible(timeout=20_000)


def test_first_sign_in_creates_the_account_and_a_verified_email_links(page: Page, browser: Browser, app_server,
                                                                      idp) -> None:
    tag = uuid.uuid4().hex[:6]
    idp.user = {"sub": f"new-{tag}", "email": f"nora-{tag}@example.com", "email_verified": True, "name": "Nora"}
    page.goto("/signup")
    expect(page.locator("#sso-localidp")).to_contain_text("Sign up with Local IdP")
    page.goto("/login")
    expect(page.locator("#sso-localidp")).to_contain_text("Continue with Local IdP")
    screenshot(page, "accounts-login-sso")
    page.locator("#sso-localidp").click()
    _dashboard(page)
    page.locator("#user-menu").click()
    expect(page.get_by_text(f"nora-{tag}@example.com")).to_be_visible()
    expect(page.locator("#role-badge")).to_have_text("owner")
    page.keyboard.press("Escape")

    # An existing password account with the same (provider-verified) address is linked, not duplicated.
    email = f"pete-{tag}@example.com"
    pw = _fresh(browser, app_server)
    sign_up(pw, app_server.base_url, email, PASSWORD, workspace=f"Pete Plumbing {tag}")
    idp.user = {"sub": f"pete-{tag}", "email": email, "email_verified": True, "name": "Pete"}
    other = _fresh(browser, app_server)
    _sso(other)
    _dashboard(other)
    expect(other.locator("#user-menu")).to_contain_text(f"Pete Plumbing {tag}")
    pw.context.close()
    other.context.close()


@pytest.mark.parametrize(("fault", "user_patch", "message"), [
    (None, {"email_verified": False}, "not verified"),
    ("wrong_nonce", {}, "does not belong to this sign-in attempt"),
    ("expired", {}, "has expired"),
    ("other_key", {}, "failed its signature check"),
    ("wrong_audience", {}, "issued for a different application"),
])
def test_bad_sign_ins_are_refused_with_a_clear_message(browser: Browser, app_server, idp, fault, user_patch,
                                                       message) -> None:
    tag = uuid.uuid4().hex[:6]
    idp.user = {"sub": f"bad-{tag}", "email": f"bad-{tag}@example.com", "email_verified": True, **user_patch}
    idp.fault = fault
    page = _fresh(browser, app_server)
    _sso(page)
    expect(page.locator("#sso-error")).to_contain_text(message)
    screenshot(page, f"accounts-sso-refused-{fault or 'unverified'}")
    page.goto("/workflows")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fworkflows"))  # nobody was signed in
    page.context.close()


def test_domain_auto_join_and_require_sso(page: Page, browser: Browser, app_server, idp) -> None:
    tag = uuid.uuid4().hex[:6]
    domain = f"bakery-{tag}.example"
    owner = f"olive@{domain}"
    sign_up(page, app_server.base_url, owner, PASSWORD, workspace=f"Bondi Bakery {tag}")
    page.goto("/members")
    page.locator("#policy-domains").fill(domain)
    page.locator("#policy-role").click()
    page.get_by_role("option", name="Viewer", exact=True).click()
    page.locator("#policy-save").click()
    expect(page.get_by_text("Sign-in rules saved")).to_be_visible()

    idp.user = {"sub": f"ben-{tag}", "email": f"ben@{domain}", "email_verified": True, "name": "Ben"}
    ben = _fresh(browser, app_server)
    _sso(ben)
    _dashboard(ben)
    expect(ben.locator("#user-menu")).to_contain_text(f"Bondi Bakery {tag}")
    ben.locator("#user-menu").click()
    expect(ben.locator("#role-badge")).to_have_text("viewer")
    ben.context.close()

    page.goto("/members")
    expect(page.locator(".member-row", has_text=f"ben@{domain}")).to_be_visible()
    page.locator("#policy-require-sso").click()
    page.locator("#policy-save").click()
    expect(page.get_by_text("Sign-in rules saved")).to_be_visible()
    screenshot(page, "accounts-sign-in-rules")

    pw = _fresh(browser, app_server)
    log_in(pw, app_server.base_url, owner, PASSWORD, expect_dashboard=False)
    expect(pw.locator("#auth-error")).to_contain_text("requires signing in with single sign-on")
    log_in(pw, app_server.base_url, owner, "wrong password 9", expect_dashboard=False)
    expect(pw.locator("#auth-error")).to_have_text("Invalid email or password.")  # no hint without the password
    idp.user = {"sub": f"olive-{tag}", "email": owner, "email_verified": True, "name": "Olive"}
    _sso(pw)
    _dashboard(pw)
    pw.context.close()
