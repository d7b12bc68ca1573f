"""Flow control in Chromium (issue 11): the builder nests steps in loops and branches and saves
them unchanged; approvals are decided from the Approvals page (the run goes on, or fails) and
never by a viewer, with audit rows; the run page shows loop iterations and the branch taken.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest
from browser_helpers import DESKTOP, PHONE, log_in, screenshot, sign_up
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "correct horse 11"

APPROVAL = {
    "name": "Big order needs the OK",
    "trigger": {"type": "manual", "config": {}},
    "steps": [
        {"key": "ok", "action": "flow.approval",
         "config": {"message": "Approve order {{ trigger.payload.id }}?", "approver_role": "editor"}},
        {"key": "done", "action": "core.log", "config": {"message": "Order {{ trigger.payload.id }} approved"}},
    ],
}
WAIT = {
    "name": "Quote accepted by link",
    "trigger": {"type": "manual", "config": {}},
    "steps": [
        {"key": "accept", "action": "flow.wait_for_event", "config": {"timeout_s": 3600}},
        {"key": "done", "action": "core.log", "config": {"message": "accepted: {{ steps.accept.output.ok }}"}},
    ],
}
ITEMS = {
    "name": "Route each line item",
    "trigger": {"type": "manual", "config": {}},
    "steps": [
        {"key": "each", "action": "flow.loop", "config": {"items": "{{ trigger.payload.items }}"},
         "steps": [
             {"key": "route", "action": "flow.branch", "config": {"mode": "first_match"},
              "branches": [
                  {"key": "big", "name": "Big", "when": "{{ loop.item.qty > 10 }}",
                   "steps": [{"key": "big_log", "action": "core.log",
                              "config": {"message": "big {{ loop.item.sku }}"}}]},
                  {"key": "small", "name": "Small", "default": True,
                   "steps": [{"key": "small_log", "action": "core.log",
                              "config": {"message": "small {{ loop.item.sku }}"}}]}]}]},
        {"key": "pick", "action": "flow.branch", "config": {"mode": "first_match"},
         "branches": [
             {"key": "many", "name": "Many items", "when": "{{ steps.each.output.count > 2 }}",
              "steps": [{"key": "many_log", "action": "core.log", "config": {"message": "many"}}]},
             {"key": "few", "name": "Few items", "default": True,
              "steps": [{"key": "few_log", "action": "core.log", "config": {"message": "few"}}]}]},
    ],
}


def _element_shot(locator, name: str) -> None:
    """A picture of one part of the page (a long phone page is too tall to look at whole)."""
    from browser_helpers import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled")


def _import(app_server, folder: Path, slug: str, definition: dict) -> str:
    path = folder / f"{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(definition))
    return json.loads(app_server.cli("workflows", "import", str(path), "--workspace", slug).stdout)["id"]


def _run_status(app_server, run_id: str) -> str:
    return json.loads(app_server.cli("runs", "show", run_id).stdout)["status"]


def _wait_status(app_server, run_id: str, wanted: set[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = _run_status(app_server, run_id)
        if status in wanted:
            return status
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} is {status}, expected one of {wanted}")


@pytest.fixture(scope="module")
def workspace(app_server, tmp_path_factory, browser: Browser) -> dict[str, str]:
    """An owner signed up through the UI, a viewer, and the two workflows above."""
    tag = uuid.uuid4().hex[:6]
    email = f"flow-owner-{tag}@example.com"
    name = f"Bakery {tag}"
    context = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url)
    sign_up(context.new_page(), app_server.base_url, email, PASSWORD, name="Olive Owner", workspace=name)
    context.close()
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    viewer = f"flow-viewer-{tag}@example.com"
    app_server.cli("users", "create", viewer, "--password", PASSWORD, "--workspace", slug, "--role", "viewer",
                   "--name", "Vic Viewer")
    folder = Path(tmp_path_factory.mktemp("flowdefs"))
    return {"email": email, "viewer": viewer, "slug": slug,
            "approval": _import(app_server, folder, slug, APPROVAL), "items": _import(app_server, folder, slug, ITEMS),
            "wait": _import(app_server, folder, slug, WAIT)}


# --------------------------------------------------------------------------- builder


def _add_to(page: Page, lane_name: str, title: str) -> None:
    page.get_by_role("button", name=f"Add step to {lane_name}").click()
    page.get_by_role("menuitem", name=re.compile(rf"^{re.escape(title)}")).click()


def _keys(page: Page) -> list[str]:
    return page.locator("[data-step-key]").evaluate_all("els => els.map(e => e.dataset.stepKey)")


@pytest.mark.timeout(600)  # a long journey through the UI; slow when the machine is busy
def test_build_a_branch_in_a_loop_save_and_reload_unchanged(page: Page, app_server, workspace) -> None:
    log_in(page, app_server.base_url, workspace["email"], PASSWORD)
    page.goto("/workflows/new")
    page.get_by_label("Workflow name").fill("Per-item routing")
    page.locator("#add-step-root").click()
    page.get_by_role("menuitem", name=re.compile(r"^Loop over items")).click()
    loop = page.locator('[data-step-key="loop"]')
    loop.get_by_label("Items", exact=True).fill("{{ trigger.body.items }}")

    _add_to(page, "For each item of “loop”", "Branch")
    branch = page.locator('[data-step-key="branch"]')
    expect(branch).to_have_attribute("data-depth", "1")
    lanes = branch.locator('[data-lane-kind="branch"]')
    expect(lanes).to_have_count(2)
    lanes.nth(0).get_by_label("Branch name").fill("Big")
    lanes.nth(0).get_by_role("textbox", name="Condition").fill("{{ loop.item.qty > 10 }}")
    expect(lanes.nth(1).get_by_role("switch")).to_be_checked()  # "Otherwise" is the default branch

    _add_to(page, "Big", "Log")
    big_log = page.locator('[data-step-key="log"]')
    expect(big_log).to_have_attribute("data-depth", "2")
    big_log.get_by_label("Message", exact=True).fill("Big:")
    # The expression helper offers loop.* inside the loop.
    big_log.get_by_role("button", name="Insert a reference into Message").click()
    page.get_by_role("menuitem", name="loop.item", exact=True).click()
    expect(big_log.get_by_label("Message", exact=True)).to_have_value("Big: {{ loop.item }}")
    _add_to(page, "Otherwise", "Log")
    page.locator('[data-step-key="log_2"]').get_by_label("Message", exact=True).fill("Small")
    # A top-level step after the loop, moved into the loop with "Move to…" and back out.
    page.locator("#add-step-root").click()
    page.get_by_role("menuitem", name=re.compile(r"^Log")).click()
    page.get_by_role("button", name="Move step log_3 to another list").click()
    page.get_by_role("menuitem", name="Inside loop “loop”").click()
    expect(page.locator('[data-step-key="log_3"]')).to_have_attribute("data-depth", "1")
    page.get_by_role("button", name="Move step log_3 to another list").click()
    page.get_by_role("menuitem", name="Top level").click()
    expect(page.locator('[data-step-key="log_3"]')).to_have_attribute("data-depth", "0")
    page.locator('[data-step-key="log_3"]').get_by_label("Message", exact=True).fill("Done")
    assert _keys(page) == ["loop", "branch", "log", "log_2", "log_3"]
    screenshot(page, "flow-builder-branch-in-loop")
    _element_shot(page.locator('[data-step-key="loop"]'), "flow-builder-loop-desktop")

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"/workflows/[0-9a-f]{32}$"), timeout=20_000)
    workflow_id = page.url.rsplit("/", 1)[-1]
    expect(page.locator("#version-badge")).to_have_text("Version 1")
    saved = json.loads(app_server.cli("workflows", "export", workflow_id).stdout)
    loop_def = saved["steps"][0]
    assert loop_def["action"] == "flow.loop" and loop_def["config"]["items"] == "{{ trigger.body.items }}"
    branch_def = loop_def["steps"][0]
    assert [b["name"] for b in branch_def["branches"]] == ["Big", "Otherwise"]
    assert branch_def["branches"][0]["when"] == "{{ loop.item.qty > 10 }}"
    assert branch_def["branches"][1]["default"] is True
    assert branch_def["branches"][0]["steps"][0]["config"]["message"] == "Big: {{ loop.item }}"
    assert [s["key"] for s in saved["steps"]] == ["loop", "log_3"]

    page.reload()
    expect(page.locator('[data-step-key="log"]')).to_be_visible()
    assert _keys(page) == ["loop", "branch", "log", "log_2", "log_3"]
    message = page.locator('[data-step-key="log"]').get_by_label("Message", exact=True)
    expect(message).to_have_value("Big: {{ loop.item }}")
    expect(page.locator("#unsaved-badge")).to_have_count(0)  # what was loaded is exactly what was saved
    expect(page.get_by_role("button", name="Save", exact=True)).to_be_disabled()
    assert json.loads(app_server.cli("workflows", "export", workflow_id).stdout) == saved

    # A nested validation error shows on the nested field.
    lane = page.locator('[data-step-key="branch"] [data-lane-kind="branch"]').nth(0)
    lane.get_by_role("textbox", name="Condition").fill("")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(lane.get_by_role("alert")).to_contain_text("condition")
    page.set_viewport_size(PHONE)
    _element_shot(page.locator('[data-step-key="loop"]'), "flow-builder-branch-in-loop-phone")
    assert page.js_errors == []  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- approvals


def _start(app_server, workflow_id: str, payload: dict) -> str:
    run = json.loads(app_server.cli("run", workflow_id, "--payload", json.dumps(payload)).stdout)
    _wait_status(app_server, run["id"], {"waiting"})
    return run["id"]


def test_approve_and_reject_from_the_approvals_page(page: Page, app_server, workspace) -> None:
    approve_run = _start(app_server, workspace["approval"], {"id": "A-100"})
    reject_run = _start(app_server, workspace["approval"], {"id": "R-200"})
    log_in(page, app_server.base_url, workspace["email"], PASSWORD)
    expect(page.locator("#sidebar .approvals-badge")).to_have_text(re.compile(r"^[2-9]$"))
    page.goto("/approvals")
    expect(page.get_by_role("heading", name="Approvals", level=1)).to_be_visible()
    cards = page.locator(".approval-card")
    approve_card = cards.filter(has_text="Approve order A-100?")
    reject_card = cards.filter(has_text="Approve order R-200?")
    expect(approve_card).to_be_visible()
    expect(reject_card).to_be_visible()
    screenshot(page, "flow-approvals")
    page.set_viewport_size(PHONE)
    screenshot(page, "flow-approvals-phone")
    page.set_viewport_size(DESKTOP)

    approve_card.get_by_label("Comment (optional)").fill("Stock checked, go")
    approve_card.get_by_role("button", name="Approve").click()
    expect(approve_card).to_have_count(0)
    assert _wait_status(app_server, approve_run, {"succeeded", "failed"}) == "succeeded"
    shown = json.loads(app_server.cli("runs", "show", approve_run).stdout)
    ok = next(s for s in shown["steps"] if s["key"] == "ok")
    assert ok["output"]["approved"] is True and ok["output"]["by"] == workspace["email"]
    assert ok["output"]["comment"] == "Stock checked, go"

    reject_card.get_by_label("Comment (optional)").fill("Customer cancelled")
    reject_card.get_by_role("button", name="Reject").click()
    expect(reject_card).to_have_count(0)
    assert _wait_status(app_server, reject_run, {"succeeded", "failed"}) == "failed"

    # Both decisions are in the audit log, with who decided.
    page.goto("/audit")
    entries = page.locator(".audit-entry")
    expect(entries.filter(has_text="approval.approve").first).to_be_visible()
    expect(entries.filter(has_text="approval.reject").first).to_be_visible()
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_a_viewer_cannot_approve(browser: Browser, app_server, workspace) -> None:
    run_id = _start(app_server, workspace["approval"], {"id": "V-300"})
    context = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url)
    page = context.new_page()
    log_in(page, app_server.base_url, workspace["viewer"], PASSWORD)
    page.goto("/approvals")
    expect(page.locator("#approvals-viewer-notice")).to_be_visible()
    listed = page.locator(".approval-card").filter(has_text="Approve order V-300?")
    expect(listed.get_by_role("button", name="Approve")).to_be_disabled()
    expect(listed.get_by_role("button", name="Reject")).to_be_disabled()
    expect(listed).to_contain_text("Viewers cannot approve or reject")
    expect(listed.get_by_label("Comment (optional)")).to_have_count(0)
    expect(page.locator("#sidebar .approvals-badge")).to_have_count(0)  # nothing waits *for them*
    # On the run page the approval is shown, its buttons disabled with the reason.
    page.goto(f"/runs/{run_id}")
    card = page.locator(".approval-card").filter(has_text="Approve order V-300?")
    expect(card).to_be_visible()
    expect(card.get_by_role("button", name="Approve")).to_be_disabled()
    expect(card.get_by_role("button", name="Reject")).to_be_disabled()
    expect(card).to_contain_text("Viewers cannot approve or reject")
    context.close()
    assert _run_status(app_server, run_id) == "waiting"

    # The owner decides it in place on the run page.
    owner = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url)
    page = owner.new_page()
    log_in(page, app_server.base_url, workspace["email"], PASSWORD)
    page.goto(f"/runs/{run_id}")
    card = page.locator(".approval-card").filter(has_text="Approve order V-300?")
    card.get_by_role("button", name="Approve").click()
    expect(page.locator("#run-status")).to_contain_text("succeeded", timeout=30_000)
    owner.close()


# --------------------------------------------------------------------------- run page


def test_run_page_shows_iterations_and_the_branch_taken(page: Page, app_server, workspace) -> None:
    items = [{"sku": f"SKU-{i}", "qty": 20 if i % 3 == 0 else 1} for i in range(60)]
    out = app_server.cli("run", workspace["items"], "--wait", "--payload", json.dumps({"items": items}))
    run = json.loads(out.stdout)
    assert run["status"] == "succeeded", out.stdout
    log_in(page, app_server.base_url, workspace["email"], PASSWORD)
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#run-status")).to_contain_text("succeeded")
    loop = page.locator('.step-card[data-path="each"]')
    expect(loop).to_contain_text("60 iterations")
    rows = loop.locator(".iteration-row")
    expect(rows).to_have_count(50)  # paged at 50
    expect(loop.locator(".iteration-page")).to_have_text("Page 1 of 2")
    loop.get_by_role("button", name="Next").click()
    expect(rows).to_have_count(10)
    expect(rows.first).to_have_attribute("data-iteration", "50")
    # Inside iteration #1 (qty 20): the big branch ran, the small one was skipped.
    loop.get_by_role("button", name="Previous").click()
    first = rows.first
    first.locator(":scope > summary").click()
    expect(first.locator('.iteration-step[data-path="each[0].big_log"]')).to_have_attribute("data-status", "succeeded")
    expect(first.locator('.iteration-step[data-path="each[0].small_log"]')).to_have_attribute("data-status", "skipped")
    screenshot(page, "flow-run-tree")
    page.set_viewport_size(PHONE)
    _element_shot(loop, "flow-run-tree-loop-phone")
    page.set_viewport_size(DESKTOP)
    loop.get_by_text("Failed only").click()
    expect(loop).to_contain_text("No iteration failed.")
    # After the loop: 60 items → "Many items" taken and highlighted, "Few items" greyed.
    pick = page.locator('.step-card[data-path="pick"]')
    expect(pick.locator('.branch-lane[data-branch="many"]')).to_have_attribute("data-state", "taken")
    expect(pick.locator('.branch-lane[data-branch="few"]')).to_have_attribute("data-state", "skipped")
    page.set_viewport_size(PHONE)
    _element_shot(pick, "flow-run-tree-branch-phone")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_run_page_shows_the_resume_url_of_a_waiting_step(page: Page, app_server, workspace) -> None:
    import httpx

    run_id = _start(app_server, workspace["wait"], {})
    log_in(page, app_server.base_url, workspace["email"], PASSWORD)
    page.goto(f"/runs/{run_id}")
    url = page.locator('.step-card[data-path="accept"] .resume-url')
    expect(url).to_contain_text("/hooks/resume/")
    assert run_id not in url.inner_text()  # a resume URL never reveals the run id
    expect(page.get_by_role("button", name="Copy resume URL")).to_be_visible()
    answer = httpx.post(url.inner_text().strip(), json={"ok": True}, timeout=10)
    assert answer.status_code == 200, answer.text
    expect(page.locator("#run-status")).to_contain_text("succeeded", timeout=30_000)  # live, no reload
    expect(url).to_have_count(0)
