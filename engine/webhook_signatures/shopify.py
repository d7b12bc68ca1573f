"""Shopify's ``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256 over the raw body.

The key is the app's client secret (or, for a webhook created in the Shopify admin, the signing
secret shown under Settings → Notifications → Webhooks). Shopify signs no timestamp, so replay
protection is deduplication on ``X-Shopify-Webhook-Id`` (returned by :func:`verify` for the
caller to record) plus, optionally, refusing deliveries whose ``X-Shopify-Triggered-At`` is too old.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import datetime

from engine.webhook_signatures import SignatureInvalid, secure_equals

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
ID_HEADER = "X-Shopify-Webhook-Id"
TOPIC_HEADER = "X-Shopify-Topic"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"


def sign(body: bytes, secret: str) -> str:
    """The base64 HMAC Shopify sends for ``body``."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


def verify(body: bytes, headers: Mapping[str, str], secret: str, *, max_age_s: int | None = None,
           now: float | None = None) -> dict[str, str | None]:
    """Check a Shopify webhook; returns ``{"webhook_id", "topic", "shop_domain"}`` for dedupe and filters.

    ``max_age_s`` (off by default: Shopify retries for up to 48 hours with the original time)
    refuses deliveries whose ``X-Shopify-Triggered-At`` is older than that.
    """
    if not secret:
        raise SignatureInvalid("no signing secret is configured for this endpoint")
    given = _header(headers, HMAC_HEADER)
    if not given:
        raise SignatureInvalid(f"missing {HMAC_HEADER} header")
    if not secure_equals(sign(body, secret), given.strip()):
        raise SignatureInvalid("signature does not match (tampered body or wrong secret)")
    if max_age_s is not None:
        triggered = _header(headers, TRIGGERED_AT_HEADER)
        try:
            at = datetime.fromisoformat((triggered or "").replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise SignatureInvalid(f"missing or invalid {TRIGGERED_AT_HEADER} header") from None
        if (time.time() if now is None else now) - at > max_age_s:
            raise SignatureInvalid(f"delivery is older than {max_age_s} s (stale or replayed)")
    return {"webhook_id": _header(headers, ID_HEADER), "topic": _header(headers, TOPIC_HEADER),
            "shop_domain": _header(headers, "X-Shopify-Shop-Domain")}
