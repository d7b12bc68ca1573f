"""Provider-signed webhooks (Stripe, Shopify, Xero, Standard Webhooks) on the webhook trigger.

A webhook trigger whose ``auth.type`` names a provider checks that provider's signature with
:mod:`engine.webhook_signatures` (the signing secret is the trigger's encrypted secret), then
reads what the provider says about the delivery: its id (for deduplication: a redelivery must not
start a second run) and its event type or topic (for the trigger's event filter). The intake
(flowmate_app/api/hooks.py) turns the :class:`Delivery` into an answer; nothing here knows HTTP.

Xero is the odd one: it requires an **empty body** on every answer (200 for a correctly signed
delivery, 401 for anything else), and its intent-to-receive check is a signed delivery with no
events, which must be answered 200 without starting a run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from engine.registry import AuthFailed
from engine.webhook_signatures import SignatureInvalid, shopify, standard, stripe, xero

#: auth.type → the label the builder shows.
PROVIDERS = {"stripe": "Stripe", "shopify": "Shopify", "xero": "Xero", "standard": "Standard Webhooks"}

#: Headers that carry a provider signature: never copied into the run payload.
SIGNATURE_HEADERS = {
    "stripe": {"stripe-signature"},
    "shopify": {"x-shopify-hmac-sha256"},
    "xero": {"x-xero-signature"},
    "standard": {"webhook-signature"},
}

#: What the event filter matches against, as the builder explains it.
EVENT_HINTS = {
    "stripe": "Stripe event types, e.g. invoice.payment_failed, checkout.session.completed (invoice.* works)",
    "shopify": "Shopify topics (X-Shopify-Topic), e.g. orders/create, customers/update",
    "xero": "Xero event categories, e.g. INVOICE or CONTACT (INVOICE.CREATE for one event type)",
    "standard": "event types from the payload's \"type\" field, e.g. user.created",
}

#: ``trigger.delivery`` as a run sees it (the builder's reference menu and test runs).
SAMPLE_DELIVERY: dict[str, dict[str, Any]] = {
    "stripe": {"provider": "stripe", "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "type": "invoice.payment_failed"},
    "shopify": {"provider": "shopify", "id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", "topic": "orders/create",
                "shop_domain": "example.myshopify.com"},
    "xero": {"provider": "xero", "events": [{
        "resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/5c2ab9a0-1f3b-4b0e-8d5e-2f0c7e0c9d11",
        "resourceId": "5c2ab9a0-1f3b-4b0e-8d5e-2f0c7e0c9d11", "eventDateUtc": "2026-01-05T09:00:00.000",
        "eventType": "CREATE", "eventCategory": "INVOICE", "tenantId": "0c5e2c1c-7a53-4a0b-9c43-7f1b2a8b6d11",
        "tenantType": "ORGANISATION"}]},
    "standard": {"provider": "standard", "id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "type": "user.created"},
}


class QuietAuthFailed(AuthFailed):
    """A refusal that must be answered with an empty body (Xero's rule)."""


@dataclass
class Delivery:
    """What a verified provider delivery says about itself."""

    provider: str
    #: The provider's id for this delivery (same on every retry); None when it sends none.
    delivery_id: str | None
    #: The event types/topics it carries (Xero batches several events in one delivery).
    events: list[str] = field(default_factory=list)
    #: Did the trigger's event filter select it? (An empty filter selects everything.)
    selected: bool = True
    #: Answer with an empty body (Xero), 200 instead of 202.
    quiet: bool = False
    #: Nothing to run (Xero's intent-to-receive check): answer 200, start nothing.
    handshake: bool = False
    #: Added to the run's ``trigger`` object as ``trigger.delivery``.
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str | None:
        return f"dlv:{self.provider}:{self.delivery_id}"[:255] if self.delivery_id else None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


def matches(patterns: list[str], event: str) -> bool:
    """Case-insensitive glob match (``invoice.*``); an empty pattern list matches everything."""
    if not patterns:
        return True
    return any(fnmatchcase(event.lower(), p.strip().lower()) for p in patterns if p.strip())


def _verify(provider: str, secret: str, headers: Mapping[str, str], body: bytes) -> Delivery:
    if provider == "stripe":
        stripe.verify(body, _header(headers, stripe.HEADER), secret)
        data = _json(body)
        data = data if isinstance(data, dict) else {}
        event_type = str(data.get("type") or "")
        return Delivery("stripe", str(data.get("id") or "") or None, [event_type] if event_type else [],
                        info={"provider": "stripe", "id": data.get("id"), "type": event_type})
    if provider == "shopify":
        facts = shopify.verify(body, headers, secret)
        topic = facts.get("topic") or ""
        return Delivery("shopify", facts.get("webhook_id"), [topic] if topic else [],
                        info={"provider": "shopify", "id": facts.get("webhook_id"), "topic": topic,
                              "shop_domain": facts.get("shop_domain")})
    if provider == "standard":
        msg_id = standard.verify(body, headers, secret)
        data = _json(body)
        event_type = str(data.get("type") or "") if isinstance(data, dict) else ""
        return Delivery("standard", msg_id, [event_type] if event_type else [],
                        info={"provider": "standard", "id": msg_id, "type": event_type})
    if provider == "xero":
        try:
            events = xero.verify(body, _header(headers, xero.HEADER), secret)
        except SignatureInvalid as exc:
            raise QuietAuthFailed(exc.reason) from None
        names = [f"{e.get('eventCategory', '')}.{e.get('eventType', '')}" for e in events]
        # Xero sends no delivery id; a retry repeats the exact body (its "entropy" makes each distinct).
        return Delivery("xero", hashlib.sha256(body).hexdigest()[:40], names, quiet=True, handshake=not events,
                        info={"provider": "xero", "events": events})
    raise AuthFailed("unsupported authentication type")


def screen(provider: str, secret: str, patterns: list[str], headers: Mapping[str, str], body: bytes) -> Delivery:
    """Verify a delivery and apply the event filter; raises AuthFailed (401) when not authentic."""
    try:
        delivery = _verify(provider, secret, headers, body)
    except SignatureInvalid as exc:
        raise AuthFailed(f"{PROVIDERS[provider]} signature refused: {exc.reason}") from None
    if delivery.handshake or not patterns:
        return delivery
    if provider == "xero":
        # Keep only the chosen events; a pattern may name a category (INVOICE) or CATEGORY.TYPE.
        kept = [e for e, name in zip(delivery.info["events"], delivery.events, strict=True)
                if matches(patterns, name) or matches(patterns, name.split(".")[0])]
        delivery.info["events"] = kept
        delivery.selected = bool(kept)
    else:
        delivery.selected = any(matches(patterns, e) for e in delivery.events)
    return delivery
