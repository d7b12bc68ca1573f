"""The Audit page as an auditor uses it, and the Contacts page, in Chromium.

- sign-in, failed sign-in, lockout and key rotation rows appear on the Audit page of the right
  workspaces (and not of others);
- the page says "chain verified", and names the row after someone edits one in the database;
- export downloads the rows with the filters on screen;
- Contacts: add a contact, record consent with its wording, see the history, suppress.
"""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest
from browser_helpers import DESKTOP, log_in, screenshot, sign_up
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.browser

PASSWORD = "correct horse 1"


def _entries(page: Page) -> list[str]:
    return page.locator(".audit-entry").all_inner_texts()


def _show_all(page: Page) -> None:
    page.goto(page.url.split("?")[0])
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible(timeout=20_000)
    expect(page.locator(".audit-entry").first).to_be_visible(timeout=20_000)


def test_sign_in_and_key_rotation_rows_reach_the_right_audit_pages(app_server, browser: Browser) -> None:
    tag = uuid.uuid4().hex[:6]
    alice, bob, carol = (f"{n}-{tag}@example.com" for n in ("alice", "bob", "carol"))
    ctx = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url, accept_downloads=True)
    page = ctx.new_page()
    sign_up(page, app_server.base_url, alice, PASSWORD, name="Alice", workspace=f"Alpha {tag}")
    page.locator("#user-menu").click()
    page.locator("#logout").click()
    page.wait_for_url(re.compile(r"/login"))  # log-out ends the session over HTTP, then loads /login
    log_in(page, app_server.base_url, alice, "not my password", expect_dashboard=False)
    expect(page.get_by_text(re.compile("invalid email or password", re.I))).to_be_visible(timeout=10_000)
    log_in(page, app_server.base_url, alice, PASSWORD)

    beta = json.loads(app_server.cli("workspaces", "create", f"Beta {tag}").stdout)["slug"]
    app_server.cli("users", "create", bob, "--password", PASSWORD, "--workspace", beta, "--role", "editor")
    app_server.cli("users", "create", carol, "--password", PASSWORD, "--workspace", beta, "--role", "owner")
    for slug in (f"alpha-{tag}", beta):  # a secret in each workspace, so rotation touches both
        token = json.loads(app_server.cli("tokens", "create", "--workspace", slug, "--role", "admin").stdout)["token"]
        r = httpx.post(app_server.url("/api/v1/connections"), headers={"Authorization": f"Bearer {token}"},
                       json={"type": "slack", "name": "slack", "secret": {"webhook_url": "https://hooks.invalid/x"}})
        assert r.status_code == 201, r.text
    app_server.cli("keys", "rotate")

    other = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url).new_page()
    for _ in range(5):
        log_in(other, app_server.base_url, bob, "wrong wrong", expect_dashboard=False)
        expect(other.locator("[role=alert]").first).to_be_visible(timeout=10_000)
    log_in(other, app_server.base_url, bob, PASSWORD, expect_dashboard=False)
    expect(other.get_by_text(re.compile("too many failed attempts", re.I))).to_be_visible(timeout=10_000)

    page.goto(app_server.url("/audit"))
    _show_all(page)
    expect(page.locator("#chain-verified")).to_contain_text("Chain verified")
    rows = "\n".join(_entries(page))
    for action in ("auth.login", "auth.login_failed", "auth.logout", "keys.rotate", "user.create"):
        assert action in rows, f"{action} missing from Alpha's audit page:\n{rows}"
    assert bob not in rows and "auth.locked" not in rows
    screenshot(page, "audit-verified")

    with page.expect_download() as dl:
        page.locator("#export-csv").click()
    exported = dl.value.path().read_text()
    assert exported.startswith("seq,created_at,actor,action") and "keys.rotate" in exported

    log_in(other, app_server.base_url, carol, PASSWORD)
    other.goto(app_server.url("/audit"))
    _show_all(other)
    beta_rows = "\n".join(_entries(other))
    assert "auth.locked" in beta_rows and bob in beta_rows and "keys.rotate" in beta_rows
    assert alice not in beta_rows
    expect(other.locator("#chain-verified")).to_be_visible()

    # Someone with database access rewrites history: the page says where the chain breaks.
    engine = create_engine(app_server.database_url)
    with engine.begin() as conn:
        ws_id = conn.execute(text("SELECT id FROM workspace WHERE slug = :s"), {"s": beta}).scalar_one()
        seq = conn.execute(text("SELECT seq FROM auditlog WHERE chain = :c AND action = 'auth.locked'"),
                           {"c": ws_id}).scalar_one()
        conn.execute(text("UPDATE auditlog SET actor = 'user:nobody@example.com' WHERE chain = :c AND seq = :q"),
                     {"c": ws_id, "q": seq})
    engine.dispose()
    other.reload()
    expect(other.locator("#chain-broken")).to_contain_text(f"Chain broken at row #{seq}", timeout=20_000)
    expect(other.locator("#chain-broken")).to_contain_text("auth.locked")
    expect(other.locator(".chain-break")).to_have_count(1)
    expect(other.locator(".audit-entry").filter(has=other.locator(".chain-break"))).to_contain_text("auth.locked")
    screenshot(other, "audit-broken")
    ctx.close()


def test_contacts_page_consent_history_suppression_and_import(app_server, browser: Browser, tmp_path) -> None:
    tag = uuid.uuid4().hex[:6]
    ctx = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url)
    page = ctx.new_page()
    sign_up(page, app_server.base_url, f"owner-{tag}@example.com", PASSWORD, name="Olive", workspace=f"Cafe {tag}")
    page.goto(app_server.url("/contacts"))
    expect(page.locator("#contacts-empty")).to_be_visible(timeout=20_000)
    page.locator("#add-email").fill("Mia.Lee@Example.com")
    page.locator("#add-phone").fill("0412 345 678")
    page.locator("#add-name").fill("Mia Lee")
    page.locator("#add-contact").click()
    expect(page.locator("#contact-detail")).to_contain_text("mia.lee@example.com", timeout=10_000)
    expect(page.locator("#contact-detail")).to_contain_text("+61412345678")

    page.locator("#consent-source").fill("paper form at the counter")
    page.locator("#consent-wording").fill("Yes, email me the monthly specials")
    page.locator("#consent-save").click()
    expect(page.locator("#consent-history .consent-event")).to_have_count(1, timeout=10_000)
    expect(page.locator("#consent-history")).to_contain_text("monthly specials")
    expect(page.locator(".contact-row")).to_contain_text("Opted in")

    page.locator("#suppress-email").click()
    expect(page.locator(".contact-row")).to_contain_text("Suppressed: email", timeout=10_000)
    page.locator("#contacts-search").fill("nobody-matches")
    expect(page.locator(".contact-row")).to_have_count(0, timeout=10_000)
    page.locator("#contacts-search").fill("0412")
    expect(page.locator(".contact-row")).to_have_count(1, timeout=10_000)
    page.locator("#contacts-search").fill("")
    csv_path = tmp_path / "contacts.csv"
    csv_path.write_text("email,phone,name,sms_consent,consent_source,consent_wording\n"
                        "li@example.com,0400 111 222,Li,granted,market stall,Text me specials\n"
                        "broken,,Nobody,,,\n")
    page.locator("#contacts-csv input[type=file]").set_input_files(str(csv_path))
    expect(page.locator("#import-summary")).to_contain_text("1 new", timeout=20_000)
    expect(page.locator("#import-summary")).to_contain_text("1 row(s) skipped")
    expect(page.locator(".contact-row")).to_have_count(2, timeout=10_000)
    screenshot(page, "contacts")
    ctx.close()
