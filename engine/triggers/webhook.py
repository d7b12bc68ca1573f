"""Webhook trigger, engine side: its config and turning an HTTP request into a run payload.

The HTTP route itself lives in flowmate_app/api; it calls :func:`build_payload` and then
``engine.services.runs.create_run``. Secret auth values are moved out of the config and stored
encrypted on the Trigger row (see engine.services.workflows).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from engine.registry import trigger

#: Request headers that authenticate the caller: never copied into the run payload.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "cookie", "proxy-authorization", "x-flowmate-signature", "x-flowmate-token"}
)


class WebhookAuth(BaseModel):
    """Optional caller authentication: a header token, HTTP Basic, or an HMAC-SHA256 signature."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["none", "header", "basic", "hmac"] = "none"
    header_name: str = Field("X-FlowMate-Token", max_length=100, title="Header name")
    token: SecretStr | None = Field(None, title="Header token")
    username: str | None = Field(None, max_length=200, title="Basic auth username")
    password: SecretStr | None = Field(None, title="Basic auth password")
    secret: SecretStr | None = Field(None, title="HMAC signing secret")

    @model_validator(mode="after")
    def _needs_secret(self) -> WebhookAuth:
        # Secrets may be absent on update (kept from the stored trigger); services check presence.
        return self


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    methods: list[Literal["GET", "POST", "PUT"]] = Field(default_factory=lambda: ["POST"], min_length=1)
    auth: WebhookAuth = Field(default_factory=WebhookAuth)


SECRET_AUTH_FIELDS = ("token", "password", "secret")

trigger(
    "webhook",
    config=WebhookConfig,
    title="Webhook",
    description="Start a run when another system sends an HTTP request to a private URL.",
)(WebhookConfig)


def parse_body(body: bytes, content_type: str | None) -> Any:
    """JSON becomes data, a form becomes a dict, anything else stays text (UTF-8, replaced)."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if not body:
        return None
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            return json.loads(body)
        except ValueError:
            return body.decode("utf-8", errors="replace")
    if ctype == "application/x-www-form-urlencoded":
        text = body.decode("utf-8", errors="replace")
        form: dict[str, Any] = {}
        for key, value in parse_qsl(text, keep_blank_values=True):
            if key in form:
                existing = form[key]
                form[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
            else:
                form[key] = value
        return form
    return body.decode("utf-8", errors="replace")


def build_payload(
    method: str,
    headers: Mapping[str, str],
    query: Mapping[str, Any],
    body: bytes,
    content_type: str | None,
) -> dict[str, Any]:
    """The ``trigger`` object a webhook run sees: method, headers, query and parsed body."""
    return {
        "method": method.upper(),
        "headers": {k.lower(): v for k, v in headers.items() if k.lower() not in SENSITIVE_HEADERS},
        "query": dict(query),
        "body": parse_body(body, content_type),
    }
