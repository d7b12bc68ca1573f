"""Webhook trigger: its config, caller authentication and turning an HTTP request into a payload.

The HTTP route lives in flowmate_app/api/hooks.py; it calls :meth:`WebhookTrigger.authenticate`,
:func:`build_payload` and then ``engine.services.runs.create_webhook_run``. Secret auth values
are split off the config by :meth:`WebhookTrigger.prepare` and stored encrypted on the Trigger
row; the API only ever says whether one is set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

from engine.crypto import constant_time_equals
from engine.errors import ValidationFailed
from engine.ratelimit import once_marker
from engine.registry import AuthFailed, IncomingRequest, TriggerType, trigger_type
from engine.triggers.webhook_providers import PROVIDERS, SAMPLE_DELIVERY, SIGNATURE_HEADERS, Delivery, screen
from engine.webhook_signatures import standard as standard_webhooks

#: Request headers that authenticate the caller: never copied into the run payload.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "cookie", "proxy-authorization", "x-flowmate-signature", "x-flowmate-token"}
)


class WebhookAuth(BaseModel):
    """Optional caller authentication: a header token, HTTP Basic, an HMAC-SHA256 signature, or a
    provider's own signature (Stripe, Shopify, Xero, Standard Webhooks) checked with ``secret``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["none", "header", "basic", "hmac", "stripe", "shopify", "xero", "standard"] = "none"
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
    events: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]] = Field(
        default_factory=list, max_length=50, title="Only these events",
        description="For a provider-signed webhook: event types or topics that start a run (others are "
                    "answered 200 and ignored). Empty: every event. Globs such as invoice.* work.")


SECRET_AUTH_FIELDS = ("token", "password", "secret")
#: A provider-signed webhook may be saved before its signing secret is known (a template sets it up,
#: the person pastes the secret from Stripe/Shopify/Xero next): until then it refuses every delivery.
REQUIRED_SECRETS = {"header": ("token",), "basic": ("password",), "hmac": ("secret",)}
SIGNATURE_HEADER = "x-flowmate-signature"
SIGNATURE_TOLERANCE_S = 300


def verify_signature(secret: str, header: str | None, body: bytes, now: float | None = None) -> str:
    """Check ``t=<unix>,v1=<hex>``; returns the matching signature (for replay tracking)."""
    if not header:
        raise AuthFailed("missing X-FlowMate-Signature header")
    stamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            stamp = value
        elif key == "v1" and value:
            candidates.append(value.lower())
    if stamp is None or not stamp.isdigit() or not candidates:
        raise AuthFailed("malformed X-FlowMate-Signature header (expected t=<unix>,v1=<hex>)")
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > SIGNATURE_TOLERANCE_S:
        raise AuthFailed("signature timestamp outside the 5-minute window")
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    matched = None
    for candidate in candidates:  # compare every candidate: no early exit on a match
        if hmac.compare_digest(expected, candidate):
            matched = candidate
    if matched is None:
        raise AuthFailed("signature does not match")
    return matched


def _check_header(auth: dict[str, Any], secret: dict[str, Any], req: IncomingRequest) -> set[str]:
    name = auth.get("header_name") or "X-FlowMate-Token"
    given = req.headers.get(name, "")
    if not constant_time_equals(given, str(secret.get("token", ""))) or not given:
        raise AuthFailed(f"missing or wrong {name} header")
    return {name.lower()}


def _check_basic(auth: dict[str, Any], secret: dict[str, Any], req: IncomingRequest) -> set[str]:
    scheme, _, value = req.headers.get("authorization", "").partition(" ")
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AuthFailed("HTTP Basic credentials required", basic=True) from None
    ok_user = constant_time_equals(user, str(auth.get("username") or ""))
    ok_pass = constant_time_equals(password, str(secret.get("password", "")))
    if scheme.lower() != "basic" or not (ok_user and ok_pass):
        raise AuthFailed("wrong username or password", basic=True)
    return set()


def _check_hmac(auth: dict[str, Any], secret: dict[str, Any], req: IncomingRequest) -> set[str]:
    signature = verify_signature(str(secret.get("secret", "")), req.headers.get(SIGNATURE_HEADER), req.body)
    if not once_marker().first("sig:" + signature, 2 * SIGNATURE_TOLERANCE_S + 60):
        raise AuthFailed("this signature was already used (replayed request)")
    return set()


#: One checker per ``auth.type``; "none" accepts every caller.
AUTH_CHECKS = {"none": lambda auth, secret, req: set(), "header": _check_header, "basic": _check_basic,
               "hmac": _check_hmac}


@trigger_type
class WebhookTrigger(TriggerType):
    name = "webhook"
    title = "Webhook"
    icon = "webhook"
    description = "Start a run when another system sends an HTTP request to a private URL."
    Config = WebhookConfig
    has_endpoint = True
    sample_key = "body"

    def prepare(self, config: dict[str, Any], old_secret: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Move the auth secret values out of the config (kept from ``old_secret`` when left out
        and the auth type did not change); refuse an auth type without its secret."""
        config = {**config, "auth": dict(config.get("auth") or {"type": "none"})}
        auth = config["auth"]
        auth_type = auth.get("type", "none")
        secret: dict[str, Any] = {}
        for name in SECRET_AUTH_FIELDS:
            value = auth.pop(name, None)
            if value not in (None, ""):
                secret[name] = value
            elif name in old_secret and old_secret.get("auth_type") == auth_type:
                secret[name] = old_secret[name]
        missing = [n for n in REQUIRED_SECRETS.get(auth_type, ()) if n not in secret]
        if auth_type == "basic" and not auth.get("username"):
            missing.insert(0, "username")
        if missing:
            raise ValidationFailed(
                "webhook authentication is incomplete",
                {f"trigger.config.auth.{n}": f"required for {auth_type} authentication" for n in missing},
            )
        if auth_type == "standard" and "secret" in secret:
            _check_standard_secret(str(secret["secret"]))
        if auth_type not in PROVIDERS and config.get("events"):
            raise ValidationFailed("an event filter needs a provider-signed webhook",
                                   {"trigger.config.events": "only for Stripe, Shopify, Xero or Standard Webhooks"})
        if auth_type == "none" or not secret:
            return config, {}
        return config, {**secret, "auth_type": auth_type}

    def authenticate(self, config: dict[str, Any], secret: dict[str, Any], request: IncomingRequest) -> set[str]:
        return self.screen(config, secret, request)[0]

    def screen(self, config: dict[str, Any], secret: dict[str, Any],
               request: IncomingRequest) -> tuple[set[str], Delivery | None]:
        """Authenticate a request; for a provider-signed webhook also say what the delivery is
        (its id for deduplication, whether the event filter selects it). Raises AuthFailed."""
        auth = dict(config.get("auth") or {})
        auth_type = auth.get("type", "none")
        if auth_type in PROVIDERS:
            delivery = screen(auth_type, str(secret.get("secret", "")), list(config.get("events") or []),
                              request.headers, request.body)
            return set(SIGNATURE_HEADERS[auth_type]), delivery
        check = AUTH_CHECKS.get(auth_type)
        if check is None:
            raise AuthFailed("unsupported authentication type")
        return check(auth, secret, request), None

    def public_view(self, config: dict[str, Any], *, token: str | None, secret_set: bool,
                    next_fire_at: Any) -> dict[str, Any]:
        return {"type": self.name, "config": dict(config), "webhook_path": f"/hooks/{token}", "secret_set": secret_set}

    def test_payload(self, config: dict[str, Any], sample: Any) -> dict[str, Any]:
        """As if the sample had been POSTed as JSON."""
        return build_payload("POST", {"content-type": "application/json", "user-agent": "FlowMate test run"}, {},
                             json.dumps(sample).encode(), "application/json")

    def sample_payload(self, config: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"body": {}, "query": {}, "headers": {"content-type": "application/json"},
                               "method": (config.get("methods") or ["POST"])[0]}
        provider = (config.get("auth") or {}).get("type")
        if provider in PROVIDERS:  # what the intake adds for a provider-signed delivery
            out["delivery"] = SAMPLE_DELIVERY[provider]
        return out


def _check_standard_secret(value: str) -> None:
    """A Standard Webhooks secret is base64 (``whsec_`` prefix optional): refuse a typo on save."""
    if not standard_webhooks.valid_secret(value):
        raise ValidationFailed("the signing secret is not a Standard Webhooks secret",
                               {"trigger.config.auth.secret": "expected whsec_ followed by base64"})


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
