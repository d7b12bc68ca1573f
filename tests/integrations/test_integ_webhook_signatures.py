"""Inbound webhook signatures: Stripe, Shopify, Xero (incl. intent to receive), Standard Webhooks.

Signatures here are made the way each provider documents them (independently of the module under
test where that is practical: hmac/base64 by hand, the standardwebhooks package for its scheme).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from engine.webhook_signatures import SignatureInvalid, shopify, standard, stripe, xero

BODY = json.dumps({"id": "evt_1", "type": "invoice.payment_failed", "data": {"object": {"amount_due": 4200}}},
                  separators=(",", ":")).encode()
STRIPE_SECRET = "whsec_test_S3CR3T_abcdef"


def _stripe_sig(body: bytes, ts: int, secret: str = STRIPE_SECRET) -> str:
    return hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


# -- Stripe -----------------------------------------------------------------------------------


def test_stripe_valid_signature() -> None:
    ts = int(time.time())
    assert stripe.verify(BODY, f"t={ts},v1={_stripe_sig(BODY, ts)}", STRIPE_SECRET) == ts
    assert stripe.header_for(BODY, STRIPE_SECRET, ts) == f"t={ts},v1={_stripe_sig(BODY, ts)}"


def test_stripe_any_of_several_v1_signatures_may_match() -> None:
    ts = int(time.time())
    header = f"t={ts},v1={_stripe_sig(BODY, ts, 'whsec_old')},v1={_stripe_sig(BODY, ts)},v0=ignored"
    assert stripe.verify(BODY, header, STRIPE_SECRET) == ts


@pytest.mark.parametrize("case", ["tampered", "wrong secret", "v0 only", "no timestamp", "empty"])
def test_stripe_refusals(case: str) -> None:
    ts = int(time.time())
    good = _stripe_sig(BODY, ts)
    body, header = BODY, f"t={ts},v1={good}"
    if case == "tampered":
        body = BODY.replace(b"4200", b"1")
    elif case == "wrong secret":
        header = f"t={ts},v1={_stripe_sig(BODY, ts, 'whsec_other')}"
    elif case == "v0 only":
        header = f"t={ts},v0={good}"
    elif case == "no timestamp":
        header = f"v1={good}"
    else:
        header = ""
    with pytest.raises(SignatureInvalid) as err:
        stripe.verify(body, header, STRIPE_SECRET)
    assert STRIPE_SECRET not in err.value.reason and good not in err.value.reason


def test_stripe_stale_and_replayed_signatures_are_refused() -> None:
    old = int(time.time()) - 301
    header = f"t={old},v1={_stripe_sig(BODY, old)}"
    with pytest.raises(SignatureInvalid, match="tolerance"):
        stripe.verify(BODY, header, STRIPE_SECRET)
    # A captured delivery replayed later with a fresh t= no longer matches its signature.
    with pytest.raises(SignatureInvalid, match="does not match"):
        stripe.verify(BODY, f"t={int(time.time())},v1={_stripe_sig(BODY, old)}", STRIPE_SECRET)
    # Tolerance is configurable and checked against the given clock.
    assert stripe.verify(BODY, header, STRIPE_SECRET, tolerance_s=600) == old
    with pytest.raises(SignatureInvalid):
        stripe.verify(BODY, header, STRIPE_SECRET, now=old + 10_000)


# -- Shopify ----------------------------------------------------------------------------------


SHOPIFY_SECRET = "shpss_S3CR3T_0123"


def _shopify_headers(body: bytes, **extra: str) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return {"X-Shopify-Hmac-Sha256": digest, "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            "X-Shopify-Shop-Domain": "harbour-bakery.myshopify.com", **extra}


def test_shopify_valid_signature_returns_id_and_topic() -> None:
    info = shopify.verify(BODY, {k.lower(): v for k, v in _shopify_headers(BODY).items()}, SHOPIFY_SECRET)
    assert info == {"webhook_id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", "topic": "orders/create",
                    "shop_domain": "harbour-bakery.myshopify.com"}


def test_shopify_tampered_wrong_secret_missing_and_stale() -> None:
    headers = _shopify_headers(BODY)
    with pytest.raises(SignatureInvalid, match="does not match"):
        shopify.verify(BODY + b" ", headers, SHOPIFY_SECRET)
    with pytest.raises(SignatureInvalid, match="does not match"):
        shopify.verify(BODY, headers, "another-secret")
    with pytest.raises(SignatureInvalid, match="missing"):
        shopify.verify(BODY, {"X-Shopify-Topic": "orders/create"}, SHOPIFY_SECRET)
    old = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    stale = _shopify_headers(BODY, **{"X-Shopify-Triggered-At": old})
    assert shopify.verify(BODY, stale, SHOPIFY_SECRET)["topic"] == "orders/create"  # no age limit by default
    with pytest.raises(SignatureInvalid, match="older than"):
        shopify.verify(BODY, stale, SHOPIFY_SECRET, max_age_s=3600)


# -- Xero -------------------------------------------------------------------------------------


XERO_KEY = "xero-webhook-key-S3CR3T/+=="


def test_xero_intent_to_receive_answers_exactly_as_xero_requires() -> None:
    body = json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "S0m3r4Nd0mt3xt"
                       }).encode()
    good = base64.b64encode(hmac.new(XERO_KEY.encode(), body, hashlib.sha256).digest()).decode()
    assert xero.response_for(body, good, XERO_KEY) == (200, b"", [])
    assert xero.response_for(body, "AAAA" + good[4:], XERO_KEY) == (401, b"", [])
    assert xero.response_for(body, None, XERO_KEY) == (401, b"", [])
    assert xero.response_for(body + b"\n", good, XERO_KEY) == (401, b"", [])


def test_xero_events_are_returned_when_signed() -> None:
    event = {"resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/abc", "resourceId": "abc",
             "eventDateUtc": "2026-12-01T01:02:03.456", "eventType": "UPDATE", "eventCategory": "INVOICE",
             "tenantId": "70784a63-d24b-46a9-a4db-0e70a274b056", "tenantType": "ORGANISATION"}
    body = json.dumps({"events": [event], "lastEventSequence": 1, "firstEventSequence": 1,
                       "entropy": "x"}).encode()
    status, out, events = xero.response_for(body, xero.sign(body, XERO_KEY), XERO_KEY)
    assert (status, out) == (200, b"") and events == [event]
    with pytest.raises(SignatureInvalid, match="no Xero webhook key"):
        xero.verify(body, xero.sign(body, XERO_KEY), "")


# -- Standard Webhooks ------------------------------------------------------------------------


SW_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-test-key-32byte").decode()


def _sw_headers(body: bytes, msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", when: datetime | None = None,
                secret: str = SW_SECRET) -> dict[str, str]:
    when = when or datetime.now(UTC)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    ts = str(int(when.timestamp()))
    sig = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": f"v1,{sig}"}


def test_standard_webhooks_valid_returns_the_id_for_dedup() -> None:
    assert standard.verify(BODY, _sw_headers(BODY), SW_SECRET) == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    signed = standard.sign_headers(BODY, SW_SECRET, "msg_x", datetime.now(UTC))
    assert standard.verify(BODY, {k.title(): v for k, v in signed.items()}, SW_SECRET) == "msg_x"


def test_standard_webhooks_refusals() -> None:
    with pytest.raises(SignatureInvalid, match="does not match"):
        standard.verify(BODY.replace(b"4200", b"1"), _sw_headers(BODY), SW_SECRET)
    other = "whsec_" + base64.b64encode(b"another-key-another-key-another!").decode()
    with pytest.raises(SignatureInvalid, match="does not match"):
        standard.verify(BODY, _sw_headers(BODY, secret=other), SW_SECRET)
    with pytest.raises(SignatureInvalid, match="stale or replayed"):
        standard.verify(BODY, _sw_headers(BODY, when=datetime.now(UTC) - timedelta(minutes=10)), SW_SECRET)
    with pytest.raises(SignatureInvalid, match="missing webhook-id"):
        headers = _sw_headers(BODY)
        del headers["webhook-id"]
        standard.verify(BODY, headers, SW_SECRET)
    rotated = _sw_headers(BODY)
    rotated["webhook-signature"] = "v1,bm90LXRoZS1zaWduYXR1cmU= " + rotated["webhook-signature"]
    assert standard.verify(BODY, rotated, SW_SECRET)  # any listed signature may match (key rotation)
