"""Stripe, Shopify and Mailchimp actions against local servers speaking their APIs."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from fake_oauth import running
from fake_saas import MAILCHIMP_KEY, SHOPIFY_SHOP, SHOPIFY_TOKEN, STRIPE_KEY, FakeSaaS, unflatten
from integ_helpers import create_connections, one_step_workflow, run_now

from engine.config import Settings
from engine.context import ActionContext, ConnectionData
from engine.errors import PermanentError, RetryableError

ALLOW = Settings(outbound_allow=["127.0.0.0/8"])


@pytest.fixture
def saas() -> Iterator[FakeSaaS]:
    with running(FakeSaaS()) as fake:
        yield fake


def _ctx(*conns: ConnectionData, run_id: str = "run1", step: str = "s") -> ActionContext:
    by_name = {c.name: c for c in conns}
    return ActionContext(run_id=run_id, step_key=step, workflow_id="w", workspace_id="ws", settings=ALLOW,
                         connection_loader=lambda ref: by_name[ref])


def _stripe(url: str, key: str = STRIPE_KEY) -> ConnectionData:
    return ConnectionData(id="s", type="stripe", name="stripe", config={"base_url": url}, secret={"api_key": key})


def _shopify(url: str) -> ConnectionData:
    return ConnectionData(id="sh", type="shopify", name="shopify", config={"shop_domain": SHOPIFY_SHOP,
                          "api_version": "2025-10", "base_url": url}, secret={"access_token": SHOPIFY_TOKEN})


def _mailchimp(url: str) -> ConnectionData:
    return ConnectionData(id="m", type="mailchimp", name="mailchimp", config={"base_url": url},
                          secret={"api_key": MAILCHIMP_KEY})


# -- Stripe -----------------------------------------------------------------------------------


def test_stripe_create_then_find_customer_with_idempotency(saas: FakeSaaS) -> None:
    from engine.actions import stripe_create_customer as create
    from engine.actions import stripe_find_customer as find

    ctx = _ctx(_stripe(saas.url), run_id="run42", step="customer")
    config = create.Config(connection="stripe", email="mia@nguyencafe.example", name="Mia Nguyen",
                           metadata={"source": "flowmate"})
    made = asyncio.run(create.run(ctx, config))
    assert made["customer_id"].startswith("cus_") and made["metadata"] == {"source": "flowmate"}
    post = saas.to("/v1/customers")[-1]
    assert post.headers["idempotency-key"] == "run42:customer"
    assert post.headers["content-type"] == "application/x-www-form-urlencoded"
    assert post.headers["stripe-version"]
    assert unflatten(list(post.form.items())) == {"email": "mia@nguyencafe.example", "name": "Mia Nguyen",
                                                  "metadata": {"source": "flowmate"}}
    # A retried step sends the same key: Stripe replays the first answer, no second customer.
    assert asyncio.run(create.run(ctx, config))["customer_id"] == made["customer_id"] and len(saas.customers) == 1

    found = asyncio.run(find.run(ctx, find.Config(connection="stripe", email="mia@nguyencafe.example")))
    assert found["found"] is True and found["customer_id"] == made["customer_id"]
    missing = asyncio.run(find.run(ctx, find.Config(connection="stripe", email="nobody@example.com")))
    assert missing == {"found": False, "customer_id": None}


def test_stripe_payment_link_from_an_amount_in_cents(saas: FakeSaaS) -> None:
    from engine.actions import stripe_create_payment_link as plink

    out = asyncio.run(plink.run(_ctx(_stripe(saas.url)), plink.Config(
        connection="stripe", amount="49.95", product_name="Birthday cake deposit", metadata={"order": "1001"})))
    assert out["url"].startswith("https://buy.stripe.com/") and out["payment_link_id"].startswith("plink_")
    assert saas.links[0]["_line"] == {"price_data": {"currency": "aud", "unit_amount": "4995", "product_data":
                                                     {"name": "Birthday cake deposit"}}, "quantity": "1"}
    with pytest.raises(ValueError, match="price_id, or amount and product_name"):
        plink.Config(connection="stripe", amount="5")


def test_stripe_errors(saas: FakeSaaS) -> None:
    from engine.actions import stripe_create_customer as create

    with pytest.raises(PermanentError, match=r"Invalid email address: nope.*field email"):
        asyncio.run(create.run(_ctx(_stripe(saas.url)), create.Config(connection="stripe", email="nope")))
    with pytest.raises(PermanentError) as err:
        asyncio.run(create.run(_ctx(_stripe(saas.url, "sk_test_wrong_S3CR3T")),
                               create.Config(connection="stripe", email="a@b.co")))
    assert "HTTP 401" in str(err.value) and "sk_test_wrong_S3CR3T" not in str(err.value)


# -- Shopify ----------------------------------------------------------------------------------


def test_shopify_add_order_note_appends(saas: FakeSaaS) -> None:
    from engine.actions import shopify_add_order_note as note

    saas.orders["gid://shopify/Order/450789469"]["note"] = "Gluten free please"
    ctx = _ctx(_shopify(saas.url))
    out = asyncio.run(note.run(ctx, note.Config(connection="shopify", order_id="450789469",
                                                note="Invoice INV-0001 raised in Xero")))
    assert out["changed"] is True and out["note"] == "Gluten free please\nInvoice INV-0001 raised in Xero"
    call = saas.to("/admin/api/")[-1]
    assert call.path == "/admin/api/2025-10/graphql.json" and call.headers["x-shopify-access-token"] == SHOPIFY_TOKEN
    assert call.json["variables"] == {"input": {"id": "gid://shopify/Order/450789469",
                                                "note": "Gluten free please\nInvoice INV-0001 raised in Xero"}}
    again = asyncio.run(note.run(ctx, note.Config(connection="shopify", order_id="450789469",
                                                  note="Invoice INV-0001 raised in Xero")))
    assert again["changed"] is False  # a retried step does not add the line twice
    with pytest.raises(PermanentError, match="was not found"):
        asyncio.run(note.run(ctx, note.Config(connection="shopify", order_id="1", note="x")))


def test_shopify_tag_customer_by_email_and_throttling(saas: FakeSaaS) -> None:
    from engine.actions import shopify_tag_customer as tag

    ctx = _ctx(_shopify(saas.url))
    out = asyncio.run(tag.run(ctx, tag.Config(connection="shopify", email="Bob.Norman@example.com",
                                              tags=["wholesale", " vip ", "wholesale"])))
    assert out == {"customer_id": "gid://shopify/Customer/207119551", "tags_added": ["wholesale", "vip"]}
    assert saas.shop_customers[out["customer_id"]]["tags"] == ["newsletter", "wholesale", "vip"]
    saas.throttle_next = 1
    with pytest.raises(RetryableError, match="throttled"):
        asyncio.run(tag.run(ctx, tag.Config(connection="shopify", customer_id="207119551", tags=["x"])))
    with pytest.raises(PermanentError, match="Resource does not exist"):
        asyncio.run(tag.run(ctx, tag.Config(connection="shopify", customer_id="99", tags=["x"])))
    with pytest.raises(PermanentError, match="no Shopify customer"):
        asyncio.run(tag.run(ctx, tag.Config(connection="shopify", email="ghost@example.com", tags=["x"])))


# -- Mailchimp --------------------------------------------------------------------------------


def test_mailchimp_datacenter_from_key() -> None:
    from engine.actions.mailchimp_upsert_member import api_base

    assert api_base(MAILCHIMP_KEY) == "https://us21.api.mailchimp.com"
    with pytest.raises(PermanentError, match="datacenter"):
        api_base("no-datacenter-here")


def _consent_ctx(saas: FakeSaaS, workspace_id: str) -> ActionContext:
    """A context with the real contacts/consent service, as the executor hands it in."""
    from engine.services import contacts

    return ActionContext(run_id="run1", step_key="s", workflow_id="w", workspace_id=workspace_id, settings=ALLOW,
                         connection_loader=lambda ref: _mailchimp(saas.url), contacts=contacts)


def _grant(workspace_id: str, email: str) -> None:
    from engine.services.contacts import record_consent_from_step

    record_consent_from_step(workspace_id, "test", email=email, phone=None, name="", channels=["email"],
                             status="granted", source="checkout form", wording="Send me news and offers")


def test_mailchimp_upsert_with_tags_and_merge_fields(sqlite_db: str, workspace: dict[str, str],
                                                     saas: FakeSaaS) -> None:
    from engine.actions import mailchimp_upsert_member as mc

    ctx = _consent_ctx(saas, workspace["id"])
    _grant(workspace["id"], "mia@nguyencafe.example")
    out = asyncio.run(mc.run(ctx, mc.Config(connection="mailchimp", audience_id="a1b2c3d4e5",
                                            email="Mia@NguyenCafe.example", consent=True,
                                            merge_fields={"FNAME": "Mia", "LNAME": ""}, tags=["bakery-order"])))
    sub_hash = hashlib.md5(b"mia@nguyencafe.example").hexdigest()  # noqa: S324
    assert out["member_id"] == sub_hash and out["status"] == "subscribed" and out["tags_added"] == ["bakery-order"]
    put, tags = saas.to("/3.0/")[-2:]
    assert put.method == "PUT" and put.path == f"/3.0/lists/a1b2c3d4e5/members/{sub_hash}"
    assert put.json == {"email_address": "Mia@nguyencafe.example", "status_if_new": "subscribed",
                        "merge_fields": {"FNAME": "Mia"}}  # empty merge fields never blank Mailchimp's data
    assert "status" not in put.json
    assert tags.json == {"tags": [{"name": "bakery-order", "status": "active"}]}
    assert saas.members[sub_hash]["tags"] == ["bakery-order"]


def test_mailchimp_refuses_to_subscribe_without_recorded_consent_or_when_suppressed(
        sqlite_db: str, workspace: dict[str, str], saas: FakeSaaS) -> None:
    from engine.actions import mailchimp_upsert_member as mc
    from engine.db import session_scope
    from engine.services.actor import Actor
    from engine.services.contacts import suppress

    ctx = _consent_ctx(saas, workspace["id"])
    calls = len(saas.to("/3.0/"))
    with pytest.raises(PermanentError, match="has no recorded consent for marketing emails") as err:
        asyncio.run(mc.run(ctx, mc.Config(connection="mailchimp", audience_id="a1b2c3d4e5", email="new@example.com",
                                          consent=True)))
    assert "was not subscribed" in str(err.value)
    _grant(workspace["id"], "left@example.com")
    with session_scope() as session:
        suppress(session, Actor.system(workspace["id"]), "email", "left@example.com", "unsubscribed by link")
    with pytest.raises(PermanentError, match="suppression list"):
        asyncio.run(mc.run(ctx, mc.Config(connection="mailchimp", audience_id="a1b2c3d4e5", email="left@example.com",
                                          consent=True)))
    assert len(saas.to("/3.0/")) == calls  # nothing reached Mailchimp


def test_mailchimp_without_consent_is_not_subscribed(sqlite_db: str, workspace: dict[str, str],
                                                     saas: FakeSaaS) -> None:
    from engine.actions import mailchimp_upsert_member as mc

    ctx = _consent_ctx(saas, workspace["id"])
    _grant(workspace["id"], "gone@example.com")
    out = asyncio.run(mc.run(ctx, mc.Config(connection="mailchimp", audience_id="a1b2c3d4e5", email="jo@example.com")))
    assert out["status"] == "pending"  # double opt-in: Mailchimp asks the person first
    # Someone who unsubscribed stays unsubscribed even when a later order says "consent".
    unsub = hashlib.md5(b"gone@example.com").hexdigest()  # noqa: S324
    saas.members[unsub] = {"id": unsub, "email_address": "gone@example.com", "status": "unsubscribed",
                           "merge_fields": {}, "tags": [], "list_id": "a1b2c3d4e5"}
    again = asyncio.run(mc.run(ctx, mc.Config(connection="mailchimp", audience_id="a1b2c3d4e5",
                                              email="gone@example.com", consent=True, merge_fields={"FNAME": "G"})))
    assert again["status"] == "unsubscribed" and saas.members[unsub]["merge_fields"] == {"FNAME": "G"}


def test_actions_run_through_the_executor_with_stored_connections(sqlite_db: str, workspace: dict[str, str],
                                                                  saas: FakeSaaS) -> None:
    create_connections(workspace["id"], [
        {"type": "stripe", "name": "stripe", "config": {"base_url": saas.url}, "secret": {"api_key": STRIPE_KEY}},
        {"type": "mailchimp", "name": "mailchimp", "config": {"base_url": saas.url},
         "secret": {"api_key": MAILCHIMP_KEY}},
        {"type": "shopify", "name": "shopify", "config": {"shop_domain": "harbour-bakery", "base_url": saas.url},
         "secret": {"access_token": SHOPIFY_TOKEN}},
    ])
    cases: list[tuple[str, dict[str, Any]]] = [
        ("stripe.create_customer", {"connection": "stripe", "email": "{{ trigger.email }}"}),
        ("mailchimp.upsert_member", {"connection": "mailchimp", "audience_id": "a1b2c3d4e5",
                                     "email": "{{ trigger.email }}", "tags": ["web"]}),
        ("shopify.tag_customer", {"connection": "shopify", "customer_id": "207119551", "tags": ["{{ trigger.tag }}"]}),
    ]
    for name, config in cases:
        run = run_now(one_step_workflow(workspace["id"], name, config), workspace["id"], "manual",
                      {"email": "ann@example.com", "tag": "repeat"})
        assert run["status"] == "succeeded", (name, run)
        assert STRIPE_KEY not in str(run) and SHOPIFY_TOKEN not in str(run) and MAILCHIMP_KEY not in str(run)


def test_connection_tests_for_the_api_key_types(saas: FakeSaaS) -> None:
    from engine.services.connection_checks import check_connection

    assert asyncio.run(check_connection(_stripe(saas.url), ALLOW))["message"] == "Stripe key works (test mode)"
    assert asyncio.run(check_connection(_shopify(saas.url), ALLOW))["message"] == "Connected to Harbour Bakery"
    assert asyncio.run(check_connection(_mailchimp(saas.url), ALLOW))["message"] == "Everything's Chimpy!"
    bad = asyncio.run(check_connection(_stripe(saas.url, "sk_test_bad_S3CR3T"), ALLOW))
    assert bad["ok"] is False and "HTTP 401" in bad["message"] and "sk_test_bad_S3CR3T" not in bad["message"]
