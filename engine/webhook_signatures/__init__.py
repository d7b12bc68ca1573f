"""Verification of signed webhooks from outside providers (Stripe, Shopify, Xero, Standard Webhooks).

Each module is pure: it takes the raw request body exactly as received, the relevant headers and
the endpoint's signing secret, and either returns what it learned (timestamp, event id) or raises
:class:`SignatureInvalid` with a short reason that is safe to log and return (it never contains
the secret or an expected signature). They know nothing about HTTP frameworks or triggers, so the
webhook intake can call them from wherever it ends up living.

Signatures are always computed over the raw bytes: parsing and re-serialising JSON changes
whitespace and key order and breaks every HMAC.
"""

from __future__ import annotations

import hmac


class SignatureInvalid(Exception):
    """The request is not authentic (or is too old to trust). ``reason`` is a short, safe phrase."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def secure_equals(a: str | bytes, b: str | bytes) -> bool:
    """Compare two signatures in constant time (bytes or ASCII text)."""
    a_bytes = a.encode("utf-8") if isinstance(a, str) else a
    b_bytes = b.encode("utf-8") if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)
