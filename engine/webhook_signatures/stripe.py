"""Stripe's ``Stripe-Signature`` header: ``t=<unix time>,v1=<hex HMAC>[,v1=...][,v0=...]``.

The signed message is ``"{t}.{raw body}"``, HMAC-SHA256 with the endpoint's signing secret
(``whsec_...``, used as-is as the key). A header may carry several ``v1`` signatures (while a
secret is being rolled, Stripe signs with both): one match is enough. ``v0`` is a test-mode
scheme and never accepted. The timestamp must be within ``tolerance`` seconds of now, which is
what makes a captured request useless for a replay later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from engine.webhook_signatures import SignatureInvalid, secure_equals

HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE_S = 300


def parse_header(header: str) -> tuple[int, list[str]]:
    """``(timestamp, [v1 signatures])``; raises SignatureInvalid when the header is malformed."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureInvalid("Stripe-Signature has a non-numeric timestamp") from None
        elif key == "v1" and value:
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureInvalid("Stripe-Signature has no timestamp (t=)")
    if not signatures:
        raise SignatureInvalid("Stripe-Signature has no v1 signature")
    return timestamp, signatures


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The hex v1 signature of ``body`` at ``timestamp`` (what Stripe sends; used by tests and fakes)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def header_for(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """A complete ``Stripe-Signature`` value, as Stripe would send it."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={sign(body, secret, ts)}"


def verify(body: bytes, header: str | None, secret: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> int:
    """Check a Stripe webhook; returns its signed timestamp.

    Raises :class:`SignatureInvalid` for a missing/malformed header, no matching ``v1`` signature
    ("tampered or wrong secret"), or a timestamp further than ``tolerance_s`` from now ("stale").
    The signature is checked first so a forged request learns nothing about our clock.
    """
    if not secret:
        raise SignatureInvalid("no signing secret is configured for this endpoint")
    if not header:
        raise SignatureInvalid("missing Stripe-Signature header")
    timestamp, signatures = parse_header(header)
    expected = sign(body, secret, timestamp)
    if not any(secure_equals(expected, candidate) for candidate in signatures):
        raise SignatureInvalid("signature does not match (tampered body or wrong signing secret)")
    current = time.time() if now is None else now
    if tolerance_s > 0 and abs(current - timestamp) > tolerance_s:
        raise SignatureInvalid(f"timestamp is outside the {tolerance_s} s tolerance (stale or replayed)")
    return timestamp
