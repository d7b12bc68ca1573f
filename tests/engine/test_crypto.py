"""Secrets at rest: roundtrip, key rotation, wrong keys; token helpers."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr

from engine.config import Settings
from engine.crypto import (
    SecretDecryptError,
    constant_time_equals,
    decrypt_json,
    encrypt_json,
    hash_token,
    new_token,
    rotate,
)

KEY_A = "a" * 20 + "-first-primary-key-for-tests"
KEY_B = "b" * 20 + "-second-primary-key-for-tests"
KEY_C = "c" * 20 + "-unrelated-key-for-tests"


def settings(primary: str, old: list[str] | None = None) -> Settings:
    return Settings(
        env="test",
        secret_key=SecretStr(primary),
        old_secret_keys=[SecretStr(key) for key in old or []],
    )


SECRET = {"api_key": "sk_live_123", "nested": {"password": "hunter2"}, "n": 1, "ok": True}


def test_roundtrip():
    token = encrypt_json(SECRET, settings(KEY_A))
    assert isinstance(token, str)
    assert "sk_live_123" not in token and "hunter2" not in token
    assert decrypt_json(token, settings(KEY_A)) == SECRET


def test_same_data_encrypts_differently_each_time():
    s = settings(KEY_A)
    assert encrypt_json(SECRET, s) != encrypt_json(SECRET, s)


def test_defaults_to_process_settings(monkeypatch):
    from engine.config import get_settings

    monkeypatch.setenv("FLOWMATE_SECRET_KEY", KEY_A)
    monkeypatch.delenv("FLOWMATE_OLD_SECRET_KEYS", raising=False)
    get_settings.cache_clear()
    try:
        token = encrypt_json(SECRET)
        assert decrypt_json(token) == SECRET
        assert decrypt_json(token, settings(KEY_A)) == SECRET
    finally:
        get_settings.cache_clear()


def test_old_key_from_environment_is_parsed(monkeypatch):
    from engine.config import get_settings

    token = encrypt_json(SECRET, settings(KEY_A))
    monkeypatch.setenv("FLOWMATE_SECRET_KEY", KEY_B)
    monkeypatch.setenv("FLOWMATE_OLD_SECRET_KEYS", f"{KEY_C},{KEY_A}")
    get_settings.cache_clear()
    try:
        assert decrypt_json(token) == SECRET
    finally:
        get_settings.cache_clear()


def test_rotation_old_key_still_decrypts_and_rotate_moves_to_new_primary():
    before = settings(KEY_A)
    token = encrypt_json(SECRET, before)

    after = settings(KEY_B, old=[KEY_A])
    assert decrypt_json(token, after) == SECRET  # old rows keep working after the key change

    rotated = rotate(token, after)
    assert rotated != token
    assert decrypt_json(rotated, after) == SECRET
    # the rotated token is under the new primary alone: the old key can be retired
    assert decrypt_json(rotated, settings(KEY_B)) == SECRET
    with pytest.raises(SecretDecryptError):
        decrypt_json(rotated, settings(KEY_A))


def test_new_encryptions_use_the_primary_key():
    token = encrypt_json(SECRET, settings(KEY_B, old=[KEY_A]))
    assert decrypt_json(token, settings(KEY_B)) == SECRET
    with pytest.raises(SecretDecryptError):
        decrypt_json(token, settings(KEY_A))


def test_wrong_key_raises_clear_error():
    token = encrypt_json(SECRET, settings(KEY_A))
    with pytest.raises(SecretDecryptError, match="FLOWMATE_OLD_SECRET_KEYS"):
        decrypt_json(token, settings(KEY_C))
    with pytest.raises(SecretDecryptError):
        rotate(token, settings(KEY_C))


@pytest.mark.parametrize("garbage", ["", "not-a-token", "gAAAAAB" + "x" * 80, "é"])
def test_garbage_raises_secret_decrypt_error(garbage):
    with pytest.raises(SecretDecryptError):
        decrypt_json(garbage, settings(KEY_A))


def test_tampered_token_is_refused():
    token = encrypt_json(SECRET, settings(KEY_A))
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(SecretDecryptError):
        decrypt_json(tampered, settings(KEY_A))


def test_hash_token_is_stable_sha256_hex():
    assert hash_token("fm_abc") == hash_token("fm_abc")
    assert hash_token("fm_abc") != hash_token("fm_abd")
    assert re.fullmatch(r"[0-9a-f]{64}", hash_token("fm_abc"))
    # known vector: sha256("abc")
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_new_token_has_prefix_and_is_random():
    tokens = {new_token("fm_") for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert re.fullmatch(r"fm_[A-Za-z0-9_-]{40}", token)
    assert new_token("whk_").startswith("whk_")


def test_constant_time_equals():
    assert constant_time_equals("secret", "secret")
    assert not constant_time_equals("secret", "secreT")
    assert not constant_time_equals("secret", "secret2")
    assert constant_time_equals(b"x", "x")
