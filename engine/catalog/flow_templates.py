"""Gallery templates that decide, repeat and wait (flow.branch, flow.loop, flow.approval,
flow.wait_for_event; docs/flow-control.md). They follow the rules of engine/catalog/templates.py.

They are kept apart from ``TEMPLATES`` (the gallery shows both, see engine/catalog/service.py):
a run of one of these does not simply run to the end with the sample payload, it waits for a
person or a link, so the tests that run every flat template in one go drive these separately
(tests/integrations/test_integ_flow_templates.py).
"""

from __future__ import annotations

from typing import Any

from engine.catalog.model import Template, Values, Variable
from engine.catalog.templates import (
    API,
    API_RETRY,
    HUBSPOT,
    SEND_RETRY,
    SLACK,
    SMS,
    SMTP,
    WEBHOOK,
    _business,
    _definition,
)

# -- 1. big orders need the owner's OK --------------------------------------------------------


def _order_approval(v: Values) -> dict[str, Any]:
    customer = "{{ trigger.body.email }}"
    steps: list[dict[str, Any]] = [
        {"key": "settings", "action": "data.transform", "name": "Settings",
         "config": {"mapping": {"threshold": v["threshold"]}}},
        {"key": "route", "action": "flow.branch", "name": "Big order?", "config": {"mode": "first_match"},
         "branches": [
             {"key": "big", "name": "Over the threshold",
              "when": "{{ (trigger.body.total | float) > steps.settings.output.threshold }}",
              "steps": [
                  {"key": "owner_ok", "action": "flow.approval", "name": "Owner approves", "config": {
                      "message": "Approve order #{{ trigger.body.order_number }} for ${{ trigger.body.total }} "
                                 "from {{ trigger.body.email }}?",
                      "approver_role": v["approver_role"], "timeout_s": 86400 * v["timeout_days"],
                      "on_timeout": "fail"}},
                  {"key": "decline", "action": "email.send", "name": "Tell the customer (declined)",
                   "when": "{{ not steps.owner_ok.output.approved }}", "retry": SEND_RETRY, "config": {
                       "connection": v.text("smtp_connection"), "to": [customer],
                       "subject": v.fmt("[[business_name]]: about your order #{{ trigger.body.order_number }}"),
                       "text": v.fmt("Hi,\n\nWe can't take order #{{ trigger.body.order_number }} this time"
                                     "{% if steps.owner_ok.output.comment %}: {{ steps.owner_ok.output.comment }}"
                                     "{% endif %}.\n\n[[business_name]]")}},
              ]},
             {"key": "small", "name": "Otherwise", "default": True, "steps": []},
         ]},
        {"key": "confirm", "action": "email.send", "name": "Confirm the order", "retry": SEND_RETRY,
         "when": "{{ 'small' in steps.route.output.taken or steps.owner_ok.output.approved }}", "config": {
             "connection": v.text("smtp_connection"), "to": [customer],
             "subject": v.fmt("[[business_name]] order #{{ trigger.body.order_number }} confirmed"),
             "text": v.fmt("Hi,\n\nYour order #{{ trigger.body.order_number }} (${{ trigger.body.total }}) is "
                           "confirmed.\n\n[[business_name]]")}},
    ]
    return _definition(v, "Big orders need the owner's OK", "Orders over a threshold wait for an approval.",
                       WEBHOOK, steps)


ORDER_APPROVAL = Template(
    slug="order-approval",
    name="Order over $1,000 needs the owner's OK",
    description="Small orders are confirmed straight away; an order over your threshold waits on the Approvals "
                "page until an admin approves it (the customer gets the confirmation) or rejects it with a "
                "comment (the customer is told).",
    category="E-commerce",
    tags=("order", "approval", "owner", "branch", "email", "webhook"),
    variables=(
        _business("Bondi Bakery"),
        Variable("threshold", "Approve orders over ($)", "int", 1000, "Orders above this total wait for an OK.",
                 min=0, max=10_000_000),
        Variable("approver_role", "Who approves (at least)", "enum", "admin", "The role that may decide.",
                 choices=("editor", "admin", "owner")),
        Variable("timeout_days", "Days to decide", "int", 2, "After this, the order is left undecided (failed run).",
                 min=1, max=30),
        SMTP,
    ),
    build=_order_approval,
    sample_payload={"order_number": 2051, "email": "ruby@example.com", "total": "1450.00"},
)


# -- 2. text each line item's supplier --------------------------------------------------------


def _supplier_texts(v: Values) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"key": "each_line", "action": "flow.loop", "name": "For each line item",
         "config": {"items": "{{ trigger.body.line_items }}", "concurrency": v["concurrency"], "max_items": 200},
         "steps": [
             {"key": "text_supplier", "action": "sms.send", "name": "Text the supplier", "retry": SEND_RETRY,
              "on_error": "continue", "when": "{{ (loop.item.supplier_phone or '') != '' }}", "config": {
                  "connection": v.text("sms_connection"),
                  "to": "{{ loop.item.supplier_phone }}",
                  "body": v.fmt("[[business_name]]: please send {{ loop.item.quantity }} × {{ loop.item.title }} "
                                "(SKU {{ loop.item.sku }}) for order #{{ trigger.body.order_number }}.")}},
         ]},
        {"key": "summary", "action": "core.log", "name": "Summary", "config": {
            "message": "{{ steps.each_line.output.count }} line items sent to suppliers for order "
                       "#{{ trigger.body.order_number }}"}},
    ]
    return _definition(v, "Text each line item's supplier", "One SMS per line item to its supplier.", WEBHOOK, steps)


SUPPLIER_TEXTS = Template(
    slug="supplier-texts",
    name="Text each line item's supplier",
    description="For order webhooks with line items: every line's supplier gets an SMS with the quantity and "
                "SKU. A supplier whose number fails is recorded and the others still get theirs.",
    category="E-commerce",
    tags=("order", "supplier", "sms", "loop", "line items", "webhook"),
    variables=(
        _business("Bondi Bakery"),
        Variable("concurrency", "Texts at a time", "int", 3, "How many suppliers are texted at once (1-10).",
                 min=1, max=10),
        SMS,
    ),
    build=_supplier_texts,
    sample_payload={"order_number": 2052, "line_items": [
        {"sku": "FLOUR-25", "title": "Flour 25 kg", "quantity": 4, "supplier_phone": "+61412000001"},
        {"sku": "BUTTER-5", "title": "Butter 5 kg", "quantity": 2, "supplier_phone": "+61412000002"},
        {"sku": "BOX-S", "title": "Small boxes", "quantity": 200, "supplier_phone": "+61412000003"}]},
)


# -- 3. route leads by score ------------------------------------------------------------------


def _crm(key: str, v: Values, stage: str) -> dict[str, Any]:
    return {"key": key, "action": "crm.upsert_contact", "name": f"Save as {stage}", "retry": API_RETRY, "config": {
        "connection": v.text("hubspot_connection"), "email": "{{ trigger.body.email }}",
        "first_name": "{{ trigger.body.first_name }}", "last_name": "{{ trigger.body.last_name }}",
        "properties": {"lifecyclestage": stage}}}


def _lead_routing(v: Values) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"key": "settings", "action": "data.transform", "name": "Settings",
         "config": {"mapping": {"hot": v["hot_score"], "warm": v["warm_score"]}}},
        {"key": "route", "action": "flow.branch", "name": "Route by score", "config": {"mode": "first_match"},
         "branches": [
             {"key": "hot", "name": "Hot", "when": "{{ (trigger.body.score | int) >= steps.settings.output.hot }}",
              "steps": [
                  _crm("crm_hot", v, "salesqualifiedlead"),
                  {"key": "tell_sales", "action": "slack.post_message", "name": "Tell sales", "retry": SEND_RETRY,
                   "config": {"connection": v.text("slack_connection"),
                              "text": ":fire: Hot lead (score {{ trigger.body.score }}): {{ trigger.body.first_name }} "
                                      "{{ trigger.body.last_name }} <{{ trigger.body.email }}>"}}]},
             {"key": "warm", "name": "Warm", "when": "{{ (trigger.body.score | int) >= steps.settings.output.warm }}",
              "steps": [_crm("crm_warm", v, "marketingqualifiedlead")]},
             {"key": "cold", "name": "Everyone else", "default": True, "steps": [_crm("crm_cold", v, "lead")]},
         ]},
    ]
    return _definition(v, "Route leads by score", "Hot leads to sales, warm to marketing, the rest to the CRM.",
                       WEBHOOK, steps)


LEAD_ROUTING = Template(
    slug="lead-routing",
    name="Route leads by score",
    description="Scored leads (from your form or ad platform) go the right way: hot ones are saved as sales "
                "qualified and posted to Slack, warm ones saved as marketing qualified, the rest as leads.",
    category="Sales",
    tags=("lead", "score", "routing", "branch", "hubspot", "slack", "webhook"),
    variables=(
        Variable("hot_score", "Hot from score", "int", 70, "Scores at or above this are hot.", min=0, max=1000),
        Variable("warm_score", "Warm from score", "int", 40, "Scores at or above this (and below hot) are warm.",
                 min=0, max=1000),
        HUBSPOT, SLACK,
    ),
    build=_lead_routing,
    sample_payload={"email": "jack@example.com", "first_name": "Jack", "last_name": "Wu", "score": 85},
)


# -- 4. quote accepted by link, then invoice --------------------------------------------------


def _quote_accept(v: Values) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"key": "send_quote", "action": "email.send", "name": "Email the quote", "retry": SEND_RETRY, "config": {
            "connection": v.text("smtp_connection"), "to": ["{{ trigger.body.email }}"],
            "subject": v.fmt("[[business_name]] quote #{{ trigger.body.quote_number }}"),
            "text": v.fmt("Hi {{ trigger.body.name }},\n\nYour quote #{{ trigger.body.quote_number }} comes to "
                          "${{ trigger.body.amount }}.\n\nTo accept it, open this link (it works once):\n"
                          "{{ resume_url('accepted') }}\n\n[[business_name]]")}},
        {"key": "accepted", "action": "flow.wait_for_event", "name": "Customer accepts",
         "config": {"timeout_s": 86400 * v["valid_days"], "on_timeout": "continue"}},
        {"key": "outcome", "action": "flow.branch", "name": "Accepted in time?", "config": {"mode": "first_match"},
         "branches": [
             {"key": "yes", "name": "Accepted", "when": "{{ not steps.accepted.output.timed_out }}", "steps": [
                 {"key": "invoice", "action": "http.request", "name": "Create the invoice", "retry": API_RETRY,
                  "config": {"method": "POST", "connection": v.text("api_connection"), "url": v.text("invoice_path"),
                             "json": {"quote_number": "{{ trigger.body.quote_number }}",
                                      "email": "{{ trigger.body.email }}", "amount": "{{ trigger.body.amount }}"}}}]},
             {"key": "expired", "name": "Not accepted", "default": True, "steps": [
                 {"key": "expired_note", "action": "core.log", "name": "Note the expiry",
                  "config": {"message": "quote #{{ trigger.body.quote_number }} expired unaccepted"}}]},
         ]},
    ]
    return _definition(v, "Quote accepted by link, then invoice", "Quote email with an accept link; invoice on yes.",
                       WEBHOOK, steps)


QUOTE_ACCEPT = Template(
    slug="quote-accept-invoice",
    name="Quote → customer accepts by link → invoice",
    description="Email a quote with a one-time accept link; the run waits (for days if need be, holding "
                "nothing) and creates the invoice in your system the moment the customer accepts.",
    category="Billing",
    tags=("quote", "invoice", "accept", "link", "wait", "email", "webhook"),
    variables=(
        _business(),
        Variable("valid_days", "Quote valid for (days)", "int", 14, "After this the quote expires.", min=1, max=90),
        Variable("invoice_path", "Invoice path", "path", "/invoices", "Path on your API connection to POST to."),
        SMTP, API,
    ),
    build=_quote_accept,
    sample_payload={"quote_number": "Q-311", "name": "Olivia", "email": "olivia@example.com", "amount": "880.00"},
)


FLOW_TEMPLATES: tuple[Template, ...] = (ORDER_APPROVAL, SUPPLIER_TEXTS, LEAD_ROUTING, QUOTE_ACCEPT)
