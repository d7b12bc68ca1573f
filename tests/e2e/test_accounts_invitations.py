"""Invitations in the browser: an owner invites by email, the mail reaches a real SMTP server, the
link signs a new person up into the workspace with the role; a used, expired or revoked link is
refused with a clear message; an admin cannot pick the owner role; sign-up sends a verification
mail and an unverified account cannot join another workspace until it confirms its address."""

from __future__ import annotations

import uuid

import pytest
from accounts_helpers import app_sql, link_in, mail_count, mail_to
from browser_helpers import DESKTOP, screenshot, sign_up
from playwright.sync_api import Browser, Page, expect
from support import wait_for

pytestmark = pytest.mark.browser
PASSWORD = "correct horse 1"


def _invite(page: Page, email: str, role: str) -> None:
    page.goto("/members")
    page.locator("#member-email").fill(email)
    page.locator("#invite-role").click()
    page.get_by_role("option", name=role.capitalize(), exact=True).click()
    page.locator("#invite-send").click()
    expect(page.locator(".invitation-row", has_text=email)).to_be_visible()


def _new_page(browser: Browser, app_server) -> Page:
    context = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url)
    context.set_default_timeout(15_000)
    return context.new_page()


def test_invitation_signs_a_new_person_up_with_the_role(page: Page, browser: Browser, app_server, mail_sink) -> None:
    tag = uuid.uuid4().hex[:6]
    owner, invitee, admin = f"olive-{tag}@example.com", f"nina-{tag}@example.com", f"adam-{tag}@example.com"
    workspace = f"Bondi Bakery {tag}"
    sign_up(page, app_server.base_url, owner, PASSWORD, name="Olive Owner", workspace=workspace)
    verify = mail_to(mail_sink, owner, "Confirm your email")
    assert workspace in verify["Subject"] and "/verify/" in link_in(verify, "/verify/")

    _invite(page, invitee, "editor")
    expect(page.locator(".invitation-row", has_text=invitee)).to_contain_text("pending")
    screenshot(page, "accounts-members-invitations")
    mail = mail_to(mail_sink, invitee, workspace)
    assert mail["Subject"] == f"Olive Owner invited you to {workspace} on FlowMate"
    assert mail.get_body(("html",)) is not None
    link = link_in(mail, "/invite/")

    guest = _new_page(browser, app_server)
    guest.goto(link)
    expect(guest.locator("#invite-heading")).to_have_text(f"Join {workspace}")
    expect(guest.locator("#invite-email")).to_have_value(invitee)
    screenshot(guest, "accounts-invite-signup")
    guest.get_by_label("Your name").fill("Nina New")
    guest.get_by_label("Password").fill(PASSWORD)
    guest.locator("#invite-signup").click()
    expect(guest.get_by_role("heading", name="Dashboard", level=1)).to_be_visible(timeout=20_000)
    guest.locator("#user-menu").click()
    expect(guest.locator("#role-badge")).to_have_text("editor")
    guest.keyboard.press("Escape")

    # The link worked once.
    other = _new_page(browser, app_server)
    other.goto(link)
    expect(other.locator("#invite-invalid")).to_contain_text("already been used")

    page.goto("/members")
    expect(page.locator(".member-row", has_text=invitee)).to_be_visible()
    expect(page.locator(".invitation-row", has_text=invitee)).to_have_count(0)
    page.goto("/audit")
    expect(page.get_by_text("invitation.accept").first).to_be_visible()

    # An admin may hand out admin, editor and viewer, never owner.
    _invite(page, admin, "admin")
    admin_page = _new_page(browser, app_server)
    admin_page.goto(link_in(mail_to(mail_sink, admin, workspace), "/invite/"))
    admin_page.get_by_label("Password").fill(PASSWORD)
    admin_page.locator("#invite-signup").click()
    expect(admin_page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible(timeout=20_000)
    admin_page.goto("/members")
    admin_page.locator("#invite-role").click()
    options = admin_page.get_by_role("option")
    expect(options).to_have_text(["Admin", "Editor", "Viewer"])
    for ctx_page in (guest, other, admin_page):
        ctx_page.context.close()


def test_revoked_and_expired_links_are_refused(page: Page, browser: Browser, app_server, mail_sink) -> None:
    tag = uuid.uuid4().hex[:6]
    owner, revoked, expired = f"rae-{tag}@example.com", f"rev-{tag}@example.com", f"exp-{tag}@example.com"
    sign_up(page, app_server.base_url, owner, PASSWORD, workspace=f"Harbour {tag}")
    _invite(page, revoked, "viewer")
    _invite(page, expired, "viewer")
    revoked_link = link_in(mail_to(mail_sink, revoked, "Harbour"), "/invite/")
    expired_link = link_in(mail_to(mail_sink, expired, "Harbour"), "/invite/")

    # Resend: a new mail with a new link; the first link stops working.
    row = page.locator(".invitation-row", has_text=expired)
    row.get_by_role("button", name=f"Resend the invitation to {expired}").click()
    expect(page.get_by_text("A new link was sent")).to_be_visible()
    wait_for(lambda: mail_count(mail_sink, expired, "Harbour") == 2)
    resent = [m for m in mail_sink.to(expired) if "Harbour" in str(m["Subject"])]
    new_expired_link = link_in(resent[-1], "/invite/")
    assert new_expired_link != expired_link

    page.locator(".invitation-row", has_text=revoked).get_by_role(
        "button", name=f"Revoke the invitation of {revoked}").click()
    expect(page.locator(".invitation-row", has_text=revoked)).to_have_count(0)

    app_sql(app_server, "UPDATE invitation SET expires_at = '2020-01-01 00:00:00' WHERE email = ?", expired)
    guest = _new_page(browser, app_server)
    guest.goto(revoked_link)
    expect(guest.locator("#invite-invalid")).to_contain_text("withdrawn")
    guest.goto(new_expired_link)
    expect(guest.locator("#invite-invalid")).to_contain_text("expired")
    screenshot(guest, "accounts-invite-expired")
    guest.goto(expired_link)
    expect(guest.locator("#invite-invalid")).to_contain_text("not valid")
    guest.context.close()


def test_unverified_account_must_confirm_before_joining(page: Page, browser: Browser, app_server, mail_sink) -> None:
    tag = uuid.uuid4().hex[:6]
    owner, sam = f"owen-{tag}@example.com", f"sam-{tag}@example.com"
    sign_up(page, app_server.base_url, owner, PASSWORD, workspace=f"Owner Co {tag}")
    sam_page = _new_page(browser, app_server)
    sign_up(sam_page, app_server.base_url, sam, PASSWORD, workspace=f"Sam Co {tag}")
    _invite(page, sam, "editor")
    link = link_in(mail_to(mail_sink, sam, f"Owner Co {tag}"), "/invite/")

    sam_page.goto(link)
    expect(sam_page.locator("#invite-unverified")).to_contain_text("Confirm your email address")
    screenshot(sam_page, "accounts-invite-unverified")
    sam_page.goto(link_in(mail_to(mail_sink, sam, "Confirm your email"), "/verify/"))
    expect(sam_page.locator("#verify-ok")).to_contain_text(f"{sam} is confirmed")
    sam_page.goto(link)
    sam_page.locator("#invite-join").click()
    expect(sam_page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible(timeout=20_000)
    sam_page.locator("#user-menu").click()
    expect(sam_page.get_by_role("menuitem", name=f"Owner Co {tag}")).to_be_visible()
    expect(sam_page.locator("#role-badge")).to_have_text("editor")
    sam_page.context.close()
