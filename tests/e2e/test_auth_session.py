"""The session cookie as Chromium stores it, sign-in rotation, log out, sign-up answers, framing.

- after sign-up the cookie is HttpOnly, SameSite=Lax, path /, 14 days; ``document.cookie`` does
  not show it and it never travels in a websocket frame (Reflex state does not hold it);
- in production (FLOWMATE_ENV=production) Chromium stores it as Secure;
- logging in again issues a new session id and the old one stops working;
- Log out ends the session on the server and removes the cookie;
- a taken email gets the neutral sign-up answer;
- no other site can frame the app.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_helpers import DESKTOP, screenshot, sign_up
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "correct horse 1"
REPO = Path(__file__).resolve().parents[2]


def _session(context) -> dict:
    found = [c for c in context.cookies() if c["name"] == "flowmate_session"]
    assert len(found) == 1, context.cookies()
    return found[0]


def _signed_in(app_server, token: str) -> bool:
    r = httpx.get(app_server.url("/api/v1/workflows"), cookies={"flowmate_session": token}, timeout=10)
    return r.status_code == 200


def test_session_cookie_is_httponly_lax_and_never_reaches_scripts(page: Page, app_server) -> None:
    frames: list[str] = []
    page.on("websocket", lambda ws: (ws.on("framereceived", lambda f: frames.append(str(f))),
                                     ws.on("framesent", lambda f: frames.append(str(f)))))
    email = f"cookie-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(page, app_server.base_url, email, PASSWORD, name="Cora Cookie")
    cookie = _session(page.context)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["secure"] is False  # FLOWMATE_ENV=test over http; production: see the next test
    assert 13.9 * 86400 < cookie["expires"] - time.time() <= 14 * 86400
    assert "flowmate_session" not in page.evaluate("document.cookie")
    # Navigate around so state deltas flow; the token must never be in one.
    page.goto("/workflows")
    expect(page.get_by_role("heading", name="Workflows", level=1)).to_be_visible()
    page.goto("/")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    assert frames, "the app talks over its websocket"
    assert not any(cookie["value"] in f for f in frames)
    assert cookie["value"] not in page.content()
    assert _signed_in(app_server, cookie["value"])


def test_log_in_rotates_the_session_and_log_out_ends_it(page: Page, app_server) -> None:
    email = f"rotate-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(page, app_server.base_url, email, PASSWORD)
    first = _session(page.context)["value"]
    page.goto("/login")  # a signed-in person is sent on to the dashboard
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    # Signing in again from this browser (the cookie rides along) replaces the session id.
    answer = page.request.post(app_server.url("/auth/login"), form={"email": email, "password": PASSWORD})
    assert answer.status == 200
    second = _session(page.context)["value"]
    assert second != first
    assert not _signed_in(app_server, first)
    assert _signed_in(app_server, second)

    page.goto("/")
    page.locator("#user-menu").click()
    page.locator("#logout").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "flowmate_session"]
    assert not _signed_in(app_server, second)
    page.goto("/workflows")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_wrong_password_and_taken_email_get_neutral_answers(page: Page, app_server) -> None:
    email = f"neutral-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(page, app_server.base_url, email, PASSWORD)
    page.context.clear_cookies()
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("another password 2")
    page.get_by_role("button", name="Create account").click()
    error = page.locator("#auth-error")
    expect(error).to_contain_text("We could not create an account with these details")
    assert "exist" not in error.inner_text().lower()
    expect(page.get_by_label("Email")).to_have_value(email)  # the form keeps what was typed
    screenshot(page, "signup-neutral-answer")

    page.goto("/login")
    for who in (email, f"nobody-{uuid.uuid4().hex[:6]}@example.com"):
        page.get_by_label("Email").fill(who)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        expect(error).to_have_text("Invalid email or password.")
        expect(page.get_by_role("button", name="Log in")).to_be_enabled()


def test_other_sites_cannot_frame_the_app(page: Page, app_server) -> None:
    response = page.goto("/login")
    assert response is not None
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.goto("about:blank")  # a neutral parent page: the app's own scripts must not race the iframe
    page.set_content(f'<iframe id="f" src="{app_server.url("/login")}" width="600" height="400"></iframe>')
    # Chromium refuses to render a page that forbids framing: the frame shows its error page.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(f.url.startswith("chrome-error://") for f in page.frames[1:]):
        page.wait_for_timeout(100)
    assert any(f.url.startswith("chrome-error://") for f in page.frames[1:]), [f.url for f in page.frames]
    expect(page.frame_locator("#f").get_by_role("heading", name="Log in")).to_have_count(0)


# --------------------------------------------------------------------------- production: Secure


@pytest.fixture
def production_api(tmp_path: Path) -> Iterator[str]:
    """The REST/auth app (build_api) served by uvicorn with FLOWMATE_ENV=production."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = f"sqlite:///{tmp_path / 'prod.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWMATE_")}
    env.update({"FLOWMATE_ENV": "production", "FLOWMATE_SECRET_KEY": "s" * 48, "FLOWMATE_DATABASE_URL": db,
                "FLOWMATE_BASE_URL": f"http://127.0.0.1:{port}", "FLOWMATE_SIGNUP": "open", "PYTHONUNBUFFERED": "1"})
    subprocess.run([sys.executable, "-m", "engine.cli", "db", "upgrade"], cwd=REPO, env=env, check=True,
                   capture_output=True, timeout=120)
    log = open(tmp_path / "uvicorn.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "flowmate_app.api:build_api",
                             "--host", "127.0.0.1", "--port", str(port)], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/api/health", timeout=2).status_code in (200, 503):
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the production API did not start:\n" + (tmp_path / "uvicorn.log").read_text()[-2000:])
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        log.close()


def test_production_cookie_is_stored_secure(browser: Browser, production_api: str) -> None:
    context = browser.new_context(viewport=DESKTOP, base_url=production_api)
    page = context.new_page()
    page.goto("/no-page-here")  # any page of this origin (API answers carry CSP default-src 'none')
    status = page.evaluate("""async () => {
        const body = new URLSearchParams({email: 'prod-owner@example.com', password: 'correct horse 1'});
        const r = await fetch('/auth/signup', {method: 'POST', body, credentials: 'include'});
        return r.status;
    }""")
    assert status == 201
    cookie = _session(context)
    assert cookie["secure"] is True and cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert "flowmate_session" not in page.evaluate("document.cookie")
    context.close()
