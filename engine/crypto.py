"""Secrets at rest and API/webhook tokens.

Connection secrets are stored as MultiFernet tokens. The primary key comes from
FLOWMATE_SECRET_KEY and older keys from FLOWMATE_OLD_SECRET_KEYS, so an operator can rotate the
key without downtime: put the old key in the "old" list, set a new primary, and existing rows
still decrypt; ``rotate()`` re-encrypts them under the new primary. The configured strings are
not used as Fernet keys directly (they are arbitrary text); each one is stretched to a 32-byte
key with HKDF-SHA256 so any sufficiently random string works.

API and webhook tokens are stored only as SHA-256 hashes: a leaked table does not leak tokens,
and lookups stay a simple indexed equality on the hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.config import Settings, get_settings
from engine.errors import FlowMateError

HKDF_INFO = b"flowmate-secrets-v1"


class SecretDecryptError(FlowMateError):
    """No configured key can decrypt the value (wrong key, missing old key, or corrupted data)."""


def derive_key(secret: str) -> bytes:
    """Stretch a configured secret string into a urlsafe-base64 Fernet key (deterministic)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


@lru_cache(maxsize=16)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(derive_key(key)) for key in keys])


def _keys(settings: Settings | None) -> tuple[str, ...]:
    settings = settings or get_settings()
    primary = settings.secret_key.get_secret_value()
    old = [key.get_secret_value() for key in settings.old_secret_keys]
    # primary first: MultiFernet encrypts with the first key and tries all keys to decrypt
    return tuple(dict.fromkeys([primary, *[key for key in old if key]]))


def key_strings(settings: Settings | None = None) -> tuple[str, ...]:
    """The configured secret strings, primary first: for keyed hashes that must survive a rotation
    (MFA recovery codes are checked under each of them)."""
    return _keys(settings)


def fernet(settings: Settings | None = None) -> MultiFernet:
    """The MultiFernet for the configured keys (cached per key tuple)."""
    return _fernet_for(_keys(settings))


def encrypt_json(data: dict[str, Any], settings: Settings | None = None) -> str:
    """Encrypt a JSON-serialisable dict under the primary key; returns a Fernet token string."""
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return fernet(settings).encrypt(payload).decode("ascii")


def decrypt_json(token: str, settings: Settings | None = None) -> dict[str, Any]:
    """Decrypt a token from ``encrypt_json`` with the primary or any old key."""
    try:
        payload = fernet(settings).decrypt(token.encode("ascii") if isinstance(token, str) else token)
    except (InvalidToken, UnicodeEncodeError, TypeError, ValueError):
        raise SecretDecryptError(
            "could not decrypt a stored secret: none of the configured keys fits "
            "(was FLOWMATE_SECRET_KEY changed without adding the previous key to "
            "FLOWMATE_OLD_SECRET_KEYS?)"
        ) from None
    data = json.loads(payload)
    if not isinstance(data, dict):
        raise SecretDecryptError("decrypted secret is not a JSON object")
    return data


def rotate(token: str, settings: Settings | None = None) -> str:
    """Re-encrypt a token under the current primary key (it may have been made with an old key)."""
    try:
        return fernet(settings).rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError, TypeError, ValueError):
        raise SecretDecryptError(
            "could not rotate a stored secret: none of the configured keys fits"
        ) from None


def hash_token(token: str) -> str:
    """SHA-256 hex digest of an API/webhook token: what we store and look tokens up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(prefix: str = "fm_") -> str:
    """A new random token such as ``fm_`` + 40 url-safe characters (240 bits of entropy)."""
    return prefix + secrets.token_urlsafe(30)


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """Compare secrets without leaking where they differ through timing."""
    a_bytes = a.encode("utf-8") if isinstance(a, str) else a
    b_bytes = b.encode("utf-8") if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)
