"""Xero webhooks: ``x-xero-signature`` is base64 HMAC-SHA256 of the raw body with the webhook key.

Xero's "intent to receive" check sends a few requests, some correctly signed and some not, each
with an empty ``events`` list; the endpoint must answer 200 to the signed ones and 401 to the
others, both with an **empty body**, within five seconds, or Xero does not enable the webhook.
Every later delivery follows the same rule, so :func:`response_for` is all the intake needs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from engine.webhook_signatures import SignatureInvalid, secure_equals

HEADER = "x-xero-signature"


def sign(body: bytes, webhook_key: str) -> str:
    """The base64 signature Xero sends for ``body``."""
    return base64.b64encode(hmac.new(webhook_key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def verify(body: bytes, signature: str | None, webhook_key: str) -> list[dict[str, Any]]:
    """Check a delivery; returns its ``events`` (empty for an intent-to-receive request)."""
    if not webhook_key:
        raise SignatureInvalid("no Xero webhook key is configured for this endpoint")
    if not signature:
        raise SignatureInvalid(f"missing {HEADER} header")
    if not secure_equals(sign(body, webhook_key), signature.strip()):
        raise SignatureInvalid("signature does not match (tampered body or wrong webhook key)")
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise SignatureInvalid("body is not JSON") from None
    events = payload.get("events") if isinstance(payload, dict) else None
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def response_for(body: bytes, signature: str | None, webhook_key: str) -> tuple[int, bytes, list[dict[str, Any]]]:
    """``(status, body, events)`` exactly as Xero requires: 200 or 401, always an empty body."""
    try:
        events = verify(body, signature, webhook_key)
    except SignatureInvalid:
        return 401, b"", []
    return 200, b"", events
