"""The flow-control templates end to end against the local provider servers (SMTP, Twilio,
HubSpot, Slack and "your own API"): approvals decided, resume links opened, loops over line
items, leads routed by score. Runs execute in-process; a parked run is executed again once it
is due (what the queue would do)."""

from __future__ import annotations

from typing import Any

from integ_helpers import run_now, webhook_payload

from engine.catalog import get_template, instantiate
from engine.catalog.flow_templates import FLOW_TEMPLATES
from engine.db import session_scope
from engine.executor import Executor
from engine.models import Role, Run
from engine.services import approvals, waits
from engine.services.actor import Actor
from engine.services.runs import run_public


def _instantiate(workspace_id: str, slug: str, variables: dict[str, Any] | None = None) -> str:
    with session_scope() as session:
        return instantiate(session, Actor.system(workspace_id), slug, variables).id


def _sample(slug: str, **changes: Any) -> dict[str, Any]:
    return webhook_payload({**get_template(slug).sample_payload, **changes})


def _again(run_id: str) -> dict[str, Any]:
    Executor().execute(run_id)
    with session_scope() as session:
        return run_public(session, session.get(Run, run_id))


def _steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["path"]: s for s in run["steps"]}


def _decide(workspace_id: str, run_id: str, approved: bool, comment: str) -> None:
    admin = Actor(workspace_id=workspace_id, role=Role.admin, label="owner@bakery.example")
    with session_scope() as session:
        (pending,) = [a for a in approvals.list_pending(session, admin).items if a.run_id == run_id]
        approvals.decide(session, admin, pending.id, approved=approved, comment=comment)


def test_there_are_four_flow_templates_in_the_gallery() -> None:
    assert len(FLOW_TEMPLATES) >= 4
    for template in FLOW_TEMPLATES:
        assert get_template(template.slug) is template


def test_small_order_is_confirmed_at_once(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    run = run_now(_instantiate(ws, "order-approval"), ws, "webhook", _sample("order-approval", total="120.00"))
    assert run["status"] == "succeeded", run
    steps = _steps(run)
    assert steps["route"]["output"] == {"taken": ["small"]}
    assert steps["owner_ok"]["status"] == "skipped"
    (message,) = connected["smtp"].messages
    assert message.message["Subject"] == "Bondi Bakery order #2051 confirmed"


def test_big_order_waits_for_the_owner_then_is_confirmed(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    run = run_now(_instantiate(ws, "order-approval"), ws, "webhook", _sample("order-approval"))
    assert run["status"] == "waiting" and connected["smtp"].messages == []
    _decide(ws, run["id"], True, "go ahead")
    run = _again(run["id"])
    assert run["status"] == "succeeded", run
    steps = _steps(run)
    assert steps["owner_ok"]["output"]["approved"] is True and steps["decline"]["status"] == "skipped"
    (message,) = connected["smtp"].messages
    assert message.message["Subject"] == "Bondi Bakery order #2051 confirmed"


def test_big_order_rejected_tells_the_customer(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    run = run_now(_instantiate(ws, "order-approval"), ws, "webhook", _sample("order-approval"))
    _decide(ws, run["id"], False, "out of butter")
    run = _again(run["id"])
    assert run["status"] == "succeeded", run
    assert _steps(run)["confirm"]["status"] == "skipped"
    (message,) = connected["smtp"].messages
    assert "out of butter" in message.message.get_body(("plain",)).get_content()


def test_each_line_items_supplier_gets_a_text(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    run = run_now(_instantiate(ws, "supplier-texts"), ws, "webhook", _sample("supplier-texts"))
    assert run["status"] == "succeeded", run
    sent = [r for r in connected["providers"].to("/2010-04-01/") if r.method == "POST"]
    assert sorted(r.form["To"] for r in sent) == ["+61412000001", "+61412000002", "+61412000003"]
    assert any("4 × Flour 25 kg (SKU FLOUR-25) for order #2052" in r.form["Body"] for r in sent)
    assert _steps(run)["summary"]["output"]["message"] == "3 line items sent to suppliers for order #2052"
    assert _steps(run)["each_line[2].text_supplier"]["iteration"] == 2


def test_leads_are_routed_by_score(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    wf = _instantiate(ws, "lead-routing")
    for email, score in (("hot@example.com", 85), ("warm@example.com", 50), ("cold@example.com", 5)):
        run = run_now(wf, ws, "webhook", _sample("lead-routing", email=email, score=score))
        assert run["status"] == "succeeded", run
    stages = {c["properties"]["email"]: c["properties"]["lifecyclestage"]
              for c in connected["providers"].contacts.values()}
    assert stages == {"hot@example.com": "salesqualifiedlead", "warm@example.com": "marketingqualifiedlead",
                      "cold@example.com": "lead"}
    (slack,) = connected["providers"].to("/services/")
    assert "hot@example.com" in slack.json["text"]


def test_quote_accepted_by_link_creates_the_invoice(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    run = run_now(_instantiate(ws, "quote-accept-invoice"), ws, "webhook", _sample("quote-accept-invoice"))
    assert run["status"] == "waiting", run
    (quote,) = connected["smtp"].messages
    body = quote.message.get_body(("plain",)).get_content()
    link = next(line for line in body.splitlines() if "/hooks/resume/" in line).strip()
    assert run["id"] not in link
    with session_scope() as session:
        assert waits.resume(session, link.rsplit("/", 1)[1], {"accepted": True}).resumed
    run = _again(run["id"])
    assert run["status"] == "succeeded", run
    (invoice,) = connected["providers"].to("/invoices")
    assert invoice.json == {"quote_number": "Q-311", "email": "olivia@example.com", "amount": "880.00"}
    assert _steps(run)["invoice"]["output"]["body"] == {"invoice_id": "INV-Q-311"}
    assert _steps(run)["expired_note"]["status"] == "skipped"
