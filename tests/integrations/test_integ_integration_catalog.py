"""The integration actions in the builder: forms render from their schemas, each has a builder
icon, a connection type with a Connect or pasted-credential form, and sample outputs whose keys
are exactly what a real run returns (checked against the local providers)."""

from __future__ import annotations

import asyncio

from fake_oauth import running
from fake_saas import MAILCHIMP_KEY, SHOPIFY_SHOP, SHOPIFY_TOKEN, STRIPE_KEY, FakeSaaS

from engine.actions._samples import SAMPLE_OUTPUTS
from engine.config import Settings
from engine.context import ActionContext, ConnectionData
from engine.oauth import tokens

NEW = [a for a in SAMPLE_OUTPUTS]


def test_every_integration_action_is_registered_with_a_form_icon_and_connection_type() -> None:
    from engine.registry import all_actions
    from engine.services.connections import CONNECTION_TYPES
    from flowmate_app.features.builder import draft as d
    from flowmate_app.features.builder.components import ACTION_ICONS

    actions = all_actions()
    catalogue = d.action_catalogue()
    icons = {name for name, _ in ACTION_ICONS}
    prefixes = {a.split(".")[0] for a in actions}
    assert {"xero", "stripe", "shopify", "mailchimp", "sheets"} <= prefixes
    for name in NEW:
        spec = actions[name]
        assert spec.connection_types and all(t in CONNECTION_TYPES for t in spec.connection_types), name
        assert catalogue[name].fields, name
        assert name in icons, name


def test_builder_offers_sample_output_references_before_any_run() -> None:
    from flowmate_app.features.builder import draft as d
    from flowmate_app.features.builder import tree

    draft = d.Draft(trigger_type="webhook")
    tree.add_step(draft, "xero.create_invoice")
    draft.steps[0].key = "invoice"
    tree.add_step(draft, "core.log")
    refs = d.earlier_step_references(draft, 1)
    assert "steps.invoice.output.invoice_number" in refs and "steps.invoice.output.total" in refs


def _ctx(*conns: ConnectionData, step: str = "s") -> ActionContext:
    by_name = {c.name: c for c in conns}
    return ActionContext(run_id="r", step_key=step, workflow_id="w", workspace_id="ws",
                         settings=Settings(outbound_allow=["127.0.0.0/8"]), connection_loader=lambda ref: by_name[ref],
                         oauth=tokens)


def test_sample_outputs_have_the_keys_of_real_outputs() -> None:
    from engine.actions import (
        mailchimp_upsert_member,
        shopify_add_order_note,
        shopify_tag_customer,
        stripe_create_customer,
        stripe_create_payment_link,
        stripe_find_customer,
    )

    with running(FakeSaaS()) as saas:
        conns = (
            ConnectionData("s", "stripe", "stripe", {"base_url": saas.url}, {"api_key": STRIPE_KEY}),
            ConnectionData("sh", "shopify", "shopify", {"shop_domain": SHOPIFY_SHOP, "base_url": saas.url},
                           {"access_token": SHOPIFY_TOKEN}),
            ConnectionData("m", "mailchimp", "mailchimp", {"base_url": saas.url}, {"api_key": MAILCHIMP_KEY}))
        ctx = _ctx(*conns, step="customer")
        link_ctx = _ctx(*conns, step="link")  # every step has its own idempotency key
        real = {
            "stripe.create_customer": asyncio.run(stripe_create_customer.run(ctx, stripe_create_customer.Config(
                connection="stripe", email="a@b.co"))),
            "stripe.find_customer": asyncio.run(stripe_find_customer.run(ctx, stripe_find_customer.Config(
                connection="stripe", email="a@b.co"))),
            "stripe.create_payment_link": asyncio.run(stripe_create_payment_link.run(
                link_ctx, stripe_create_payment_link.Config(connection="stripe", amount=5, product_name="Pie"))),
            "shopify.add_order_note": asyncio.run(shopify_add_order_note.run(ctx, shopify_add_order_note.Config(
                connection="shopify", order_id="450789469", note="hi"))),
            "shopify.tag_customer": asyncio.run(shopify_tag_customer.run(ctx, shopify_tag_customer.Config(
                connection="shopify", customer_id="207119551", tags=["a"]))),
            "mailchimp.upsert_member": asyncio.run(mailchimp_upsert_member.run(ctx, mailchimp_upsert_member.Config(
                connection="mailchimp", audience_id="abc123", email="a@b.co"))),
        }
    for name, output in real.items():
        assert set(SAMPLE_OUTPUTS[name]) == set(output), name
