"""Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) via the
``standardwebhooks`` package, the spec's reference implementation.

The signed content is ``"{id}.{timestamp}.{body}"``, HMAC-SHA256 with the base64 secret after
its ``whsec_`` prefix; the signature header holds space-separated ``v1,<base64>`` entries (any
one may match, which is how secrets are rotated); timestamps older or newer than five minutes
are refused. ``webhook-id`` is returned for deduplication: retries keep the same id.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from engine.webhook_signatures import SignatureInvalid

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def valid_secret(secret: str) -> bool:
    """Is ``secret`` a Standard Webhooks secret (``whsec_`` optional, then base64 of at least 16 bytes)?

    The package decodes leniently (it skips characters that are not base64), so a typo would
    quietly become another key; saving a trigger or signing a request checks strictly instead.
    """
    raw = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        return len(base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)) >= 16
    except (binascii.Error, ValueError):
        return False


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> str:
    """Check a delivery; returns its ``webhook-id``. Raises :class:`SignatureInvalid` otherwise."""
    if not secret:
        raise SignatureInvalid("no signing secret is configured for this endpoint")
    lowered = _lower(headers)
    for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER):
        if not lowered.get(name):
            raise SignatureInvalid(f"missing {name} header")
    try:
        webhook = Webhook(secret)
    except Exception:  # the package raises binascii/ValueError for a secret that is not base64
        raise SignatureInvalid("the configured signing secret is not a valid Standard Webhooks secret") from None
    try:
        webhook.verify(body, lowered)
    except WebhookVerificationError as exc:
        reason = str(exc) or "verification failed"
        if "timestamp" in reason.lower():
            raise SignatureInvalid(f"timestamp refused: {reason} (stale or replayed)") from None
        raise SignatureInvalid("signature does not match (tampered body or wrong secret)") from None
    return lowered[ID_HEADER]


def sign_headers(body: bytes, secret: str, msg_id: str, timestamp: datetime) -> dict[str, str]:
    """The three headers a sender adds (for ``http.request`` signing and for tests)."""
    if not valid_secret(secret):
        raise ValueError("not a Standard Webhooks secret")
    signature = Webhook(secret).sign(msg_id, timestamp, body.decode("utf-8"))
    return {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(int(timestamp.timestamp())), SIGNATURE_HEADER: signature}
