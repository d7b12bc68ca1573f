"""Redaction: secrets never reach logs, audit rows or API responses in clear."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, SecretStr

from engine.redaction import REDACTED, is_secret_key, redact, redact_model


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "Password",
        "secret",
        "client_secret",
        "clientSecret",
        "token",
        "access_token",
        "refresh_token",
        "auth_token",
        "api_key",
        "apiKey",
        "X-Api-Key",
        "APIKEY",
        "Authorization",
        "private_key",
        "signature",
        "X-Hub-Signature",
        "webhook_secret",
        "Cookie",
        "AWS_SECRET_ACCESS_KEY",
    ],
)
def test_secret_keys(name):
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "email",
        "subject",
        "token_count",
        "max_tokens",
        "token_type",
        "auth_url",
        "password_hint",
        "author",
        "keyword",
        "secret_name",
        "",
    ],
)
def test_non_secret_keys(name):
    assert not is_secret_key(name)


def test_redacts_nested_secret_keys_and_keeps_the_rest():
    data = {
        "url": "https://api.example.com",
        "headers": {"Authorization": "Bearer abc123", "Accept": "application/json"},
        "auth": {"username": "ann", "password": "hunter2"},
        "steps": [{"config": {"api_key": "sk_live_1", "to": "ann@example.com"}}],
        "token_count": 12,
        "empty_password": "",
    }
    out = redact(data)
    assert out == {
        "url": "https://api.example.com",
        "headers": {"Authorization": REDACTED, "Accept": "application/json"},
        "auth": REDACTED,
        "steps": [{"config": {"api_key": REDACTED, "to": "ann@example.com"}}],
        "token_count": 12,
        "empty_password": "",
    }
    # the input is untouched
    assert data["headers"]["Authorization"] == "Bearer abc123"


def test_redacts_known_secret_substrings_anywhere():
    secret = "sk_live_9f8e7d6c"
    data = {
        "error": f"401 from server: invalid key {secret}, check it",
        "echo": [f"url?key={secret}", "harmless"],
        "same": secret,
    }
    out = redact(data, secrets=[secret])
    assert secret not in repr(out)
    assert out["error"] == f"401 from server: invalid key {REDACTED}, check it"
    assert out["echo"] == [f"url?key={REDACTED}", "harmless"]
    assert out["same"] == REDACTED


def test_short_known_secrets_are_ignored_and_secretstr_accepted():
    assert redact("a-b-c abc", secrets=["abc", None, ""]) == "a-b-c abc"
    assert redact("pw is hunter2", secrets=[SecretStr("hunter2")]) == f"pw is {REDACTED}"


def test_longest_known_secret_wins():
    assert redact("x=abcdefgh", secrets=["abcd", "abcdefgh"]) == f"x={REDACTED}"


def test_secretstr_values_are_redacted_anywhere():
    out = redact({"conn": {"value": SecretStr("s3cr3t!"), "list": [SecretStr("x")]}})
    assert out == {"conn": {"value": REDACTED, "list": [REDACTED]}}


class Smtp(BaseModel):
    host: str = "smtp.example.com"
    username: str = "ann"
    password: SecretStr = SecretStr("hunter2")


class Config(BaseModel):
    to: str = "bob@example.com"
    credential: SecretStr | None = None
    api_token: str = "plain-but-secret-looking"
    smtp: Smtp = Field(default_factory=Smtp)


def test_redact_model():
    out = redact_model(Config(credential=SecretStr("tok_123456")))
    assert out == {
        "to": "bob@example.com",
        "credential": REDACTED,
        "api_token": REDACTED,
        "smtp": {"host": "smtp.example.com", "username": "ann", "password": REDACTED},
    }
    assert "hunter2" not in repr(out) and "tok_123456" not in repr(out)


def test_redact_model_with_known_secrets():
    out = redact_model(Config(to="hunter2@example.com"), secrets=["hunter2"])
    assert out["to"] == f"{REDACTED}@example.com"


def test_secret_looking_query_values_are_masked_inside_strings() -> None:
    from engine.redaction import REDACTED, redact

    url = "https://api.example.com/v1/leads?api_key=abc123&page=2&accessToken=t0k3n#top"
    assert redact({"url": url})["url"] == (f"https://api.example.com/v1/leads?api_key={REDACTED}&page=2"
                                          f"&accessToken={REDACTED}#top")
    assert redact(f"GET {url} failed") == f"GET {redact(url)} failed"
    assert redact("a=b and c=d") == "a=b and c=d"
    assert redact("https://x.example/?token_type=bearer&q=1") == "https://x.example/?token_type=bearer&q=1"
def test_lists_of_secret_field_names_are_not_secrets() -> None:
    """Audit rows say WHICH secrets were set or changed: those names are not themselves secret."""
    from engine.redaction import redact

    data = {"secrets_set": ["password", "api_key"], "secrets_changed": ["token"], "secret_fields": ["token"],
            "secret": "hunter22", "api_key": "k-123456"}
    assert redact(data) == {"secrets_set": ["password", "api_key"], "secrets_changed": ["token"],
                            "secret_fields": ["token"], "secret": "••••••", "api_key": "••••••"}
