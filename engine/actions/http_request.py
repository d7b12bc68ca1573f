"""``http.request``: call any HTTP endpoint, through the outbound-safety guard.

Failure classes follow what a retry can fix: 408, 429, 5xx, timeouts and connection errors are
retryable; any other 4xx (and a 3xx left over when redirects are off or exhausted) is permanent.
Secrets from the connection are added to the request only; they never appear in the step output
or in error messages (responses are returned without echoing request headers).

Responses are read as a stream, up to ``max_response_bytes`` (default
FLOWMATE_HTTP_MAX_RESPONSE_BYTES, 10 MiB) of *decompressed* body: gzip and deflate are inflated
here, chunk by chunk with a bounded output size, so neither a huge body nor a small
"decompression bomb" can make the worker hold more than the cap. A cut body is returned as text
with ``truncated`` set. A header value with a line break can never be sent: it fails at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json as jsonlib
import time
import zlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine import tracing
from engine.context import ActionContext, ConnectionData
from engine.errors import PermanentError, RetryableError
from engine.outbound import guarded_client
from engine.registry import action
from engine.webhook_signatures import standard as standard_webhooks

EXCERPT_CHARS = 200
RETRYABLE_STATUSES = frozenset({408, 429})


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    HEAD = "HEAD"


class SignConfig(BaseModel):
    """HMAC signature of the exact request body bytes, so the receiver can verify the sender.

    The key is the ``signing_secret`` of an http connection (stored encrypted), never a literal
    in the step: step configs and run inputs are not secret storage.
    """

    model_config = ConfigDict(extra="forbid")

    secret_connection: str = Field(
        title="Signing connection",
        description="An http connection whose secret field 'signing_secret' is the HMAC key "
                    "(for Standard Webhooks: the receiver's whsec_... secret).",
        examples=["partner-signing"],
    )
    scheme: Literal["hmac", "standard_webhooks"] = Field(
        "hmac", title="Scheme",
        description="hmac: one header as set below. standard_webhooks: the Standard Webhooks headers "
                    "webhook-id (the same on every retry of this step), webhook-timestamp and "
                    "webhook-signature (v1, HMAC-SHA256 of '{id}.{timestamp}.{body}'); the settings below are "
                    "then not used.",
        examples=["standard_webhooks"])
    header: str = Field("X-Signature", title="Signature header", min_length=1, max_length=100,
                        description="Request header that carries the signature.",
                        pattern=r"^[A-Za-z0-9-]+$", examples=["X-Signature", "X-Hub-Signature-256"])
    algorithm: Literal["sha256", "sha512", "sha1"] = Field(
        "sha256", title="Algorithm", description="Hash for the HMAC (sha1 only for old receivers).",
        examples=["sha256"])
    encoding: Literal["hex", "base64"] = Field("hex", title="Encoding", description="How the digest is written.",
                                               examples=["hex"])
    prefix: str = Field("", title="Prefix", max_length=40, description="Put before the signature, e.g. 'sha256='.",
                        examples=["sha256="])
    timestamp_header: str | None = Field(
        None, title="Timestamp header", max_length=100, pattern=r"^[A-Za-z0-9-]+$",
        description="When set, the Unix time is sent in this header and the signed message is "
                    "'{timestamp}.{body}' (Stripe style), so receivers can refuse replays.",
        examples=["X-Signature-Timestamp"],
    )


def sign_body(secret: str, body: bytes, sign: SignConfig, timestamp: int | None = None) -> str:
    """The header value for ``body`` (``prefix`` + hex/base64 HMAC)."""
    message = f"{timestamp}.".encode() + body if timestamp is not None else body
    digest = hmac.new(secret.encode(), message, getattr(hashlib, sign.algorithm)).digest()
    encoded = digest.hex() if sign.encoding == "hex" else base64.b64encode(digest).decode("ascii")
    return sign.prefix + encoded


class Config(BaseModel):
    """What the builder's form asks for. ``json`` and ``body`` are mutually exclusive."""

    model_config = ConfigDict(populate_by_name=True)

    method: HttpMethod = Field(
        default=HttpMethod.GET, title="Method", description="HTTP method to use.", examples=["POST"]
    )
    url: str = Field(
        title="URL",
        description="Full http:// or https:// URL, or a path such as /v1/leads when the connection has a base_url."
                    " Private and internal addresses are refused.",
        examples=["https://api.example.com/v1/contacts"],
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        title="Headers",
        description="Extra request headers. Put secrets in a connection instead.",
        examples=[{"Accept": "application/json"}],
    )
    query: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        title="Query parameters",
        description="Added to the URL's query string.",
        examples=[{"page": 1, "active": True}],
    )
    json_body: Any | None = Field(
        default=None,
        alias="json",
        title="JSON body",
        description="Sent as application/json. Leave empty when using a raw body.",
        examples=[{"email": "{{ trigger.body.email }}"}],
    )
    body: str | None = Field(
        default=None,
        title="Raw body",
        description="Sent as-is (set Content-Type in headers). Leave empty when using a JSON body.",
        examples=["name=Ada&plan=pro"],
    )
    timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=300,
        title="Timeout (seconds)",
        description="Give up (and retry per the step's policy) after this many seconds.",
        examples=[10],
    )
    connection: str | None = Field(
        default=None,
        title="Connection",
        description="An HTTP connection (bearer token, basic auth or custom header) to authenticate with.",
        examples=["crm-api"],
    )
    follow_redirects: bool = Field(
        default=True,
        title="Follow redirects",
        description="Follow up to 5 redirects; each hop is checked by the outbound guard.",
        examples=[True],
    )
    max_response_bytes: int | None = Field(
        default=None,
        ge=1,
        le=1024 * 1024 * 1024,
        title="Response size limit (bytes)",
        description="Read at most this much of the (decompressed) response body; the rest is cut and the output "
                    "says 'truncated'. Empty: the server's default (10 MiB).",
        examples=[1048576],
    )
    sign: SignConfig | None = Field(
        default=None,
        title="HMAC signing",
        description="Sign the request body with a secret from a connection and send the signature in a header.",
        examples=[{"secret_connection": "partner-signing", "header": "X-Signature", "algorithm": "sha256"}],
    )

    @model_validator(mode="after")
    def _one_body(self) -> Config:
        if self.json_body is not None and self.body is not None:
            raise ValueError("set either json or body, not both")
        return self


def _auth_headers(conn: ConnectionData) -> tuple[dict[str, str], list[str]]:
    """Headers implementing the connection's auth, plus the secret strings to redact.

    Errors name fields, never their values.
    """
    if conn.type != "http":
        raise PermanentError(f"connection {conn.name!r} has type {conn.type!r}, expected 'http'")
    auth_type = conn.config.get("auth_type")
    secret = conn.secret

    def need(*keys: str) -> list[str]:
        missing = [k for k in keys if not secret.get(k)]
        if missing:
            raise PermanentError(f"connection {conn.name!r} is missing secret field(s): {', '.join(missing)}")
        return [str(_reveal(secret[k])) for k in keys]

    if auth_type == "bearer":
        (token,) = need("token")
        return {"Authorization": f"Bearer {token}"}, [token]
    if auth_type == "basic":
        user, password = need("username", "password")
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {encoded}"}, [encoded, password]
    if auth_type == "header":
        name, value = need("header_name", "header_value")
        return {name: value}, [value]
    if auth_type == "none":  # a connection used only for its base_url or signing secret
        return {}, []
    raise PermanentError(
        f"connection {conn.name!r} has unsupported auth_type {auth_type!r} (use bearer, basic, header or none)"
    )


def _reveal(value: Any) -> Any:
    """Accept plain strings and pydantic SecretStr alike."""
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value


class _Inflater:
    """Decompress one Content-Encoding with a hard bound on the output kept."""

    def __init__(self, encoding: str) -> None:
        enc = encoding.strip().lower()
        self.identity = enc in ("", "identity")
        self._d: Any = None
        self._deflate = enc == "deflate"
        if enc in ("gzip", "x-gzip"):
            self._d = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        elif not self.identity and not self._deflate:
            raise PermanentError(f"the response uses Content-Encoding {encoding!r}, which is not supported")

    def feed(self, chunk: bytes, room: int) -> bytes:
        """Up to ``room`` bytes of output for ``chunk`` (more input may stay unconsumed: the body is cut)."""
        if self.identity:
            return chunk[:room]
        if self._d is None:  # deflate: zlib-wrapped (RFC 1950) per spec, raw deflate in practice too
            self._d = zlib.decompressobj(wbits=zlib.MAX_WBITS if chunk[:1] == b"\x78" else -zlib.MAX_WBITS)
        try:
            return self._d.decompress(chunk, room)
        except zlib.error as exc:
            raise PermanentError(f"the response body could not be decompressed: {exc}") from None


async def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """The decompressed body up to ``cap`` bytes, and whether more was there."""
    inflater = _Inflater(response.headers.get("content-encoding", ""))
    body = bytearray()
    chunks = response.aiter_raw()
    try:
        async for chunk in chunks:
            body += inflater.feed(chunk, cap + 1 - len(body))
            if len(body) > cap:
                return bytes(body[:cap]), True
    finally:
        await chunks.aclose()  # stop reading now; closing the stream drops the connection
    return bytes(body), False


def _decode_text(response: httpx.Response, body: bytes) -> str:
    return body.decode(response.charset_encoding or "utf-8", errors="replace")


def _parse_body(response: httpx.Response, body: bytes, truncated: bool) -> Any:
    content_type = response.headers.get("content-type", "").lower()
    if "json" in content_type and body and not truncated:
        try:
            return jsonlib.loads(body)
        except (ValueError, RecursionError):
            pass
    return _decode_text(response, body)


def _check_header_values(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        if any(ch in str(name) or ch in str(value) for ch in "\r\n\x00"):
            raise PermanentError(f"header {name!r} contains a line break or NUL character, which can never be "
                                 "sent; remove it from the value")


def _redact(value: Any, secrets: list[str]) -> Any:
    """Replace secret strings anywhere in a parsed body (servers like httpbin echo headers back)."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return value


def _excerpt(text: str, secrets: list[str]) -> str:
    # Redact before cutting, so a secret straddling the cut cannot leak half of itself.
    text = " ".join(_redact(text, secrets).split())
    return text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else "")


@action(
    "http.request",
    config=Config,
    title="HTTP request",
    description="Call an HTTP endpoint and use its JSON or text response in later steps.",
    category="http",
    side_effect=True,
    connection_types=("http",),
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    headers = dict(config.headers)
    secrets: list[str] = []
    url = config.url
    if config.connection:
        conn = ctx.get_connection(config.connection)
        auth, secrets = _auth_headers(conn)
        base_url = str(conn.config.get("base_url") or "")
        if url.startswith("/") and base_url:
            url = base_url.rstrip("/") + url
        # The connection wins over a same-named user header: the secret is the point of it.
        for name in list(headers):
            if name.lower() in {a.lower() for a in auth}:
                del headers[name]
        headers.update(auth)
    if not any(name.lower() == "idempotency-key" for name in headers):
        headers["Idempotency-Key"] = ctx.idempotency_key
    if not any(name.lower() == "accept-encoding" for name in headers):
        headers["Accept-Encoding"] = "gzip, deflate"  # the encodings _Inflater bounds
    tracing.inject(headers)  # W3C traceparent of this step's span, when tracing is on
    _check_header_values(headers)

    kwargs: dict[str, Any] = {"headers": headers, "params": config.query or None}
    if config.json_body is not None:
        kwargs["json"] = config.json_body
    elif config.body is not None:
        kwargs["content"] = config.body.encode()
    if config.sign is not None:
        secrets = [*secrets, *_apply_signature(ctx, config.sign, kwargs)]

    method = config.method.value
    cap = config.max_response_bytes or ctx.settings.http_max_response_bytes
    try:
        async with guarded_client(
            ctx.settings, timeout=config.timeout_s, follow_redirects=config.follow_redirects
        ) as client, client.stream(method, url, **kwargs) as response:
            ok = 200 <= response.status_code < 300
            raw, truncated = await _read_capped(response, cap if ok else min(cap, 64 * 1024))
    except httpx.TimeoutException as exc:
        raise RetryableError(f"{method} {url} timed out after {config.timeout_s:g}s") from exc
    except httpx.TooManyRedirects as exc:
        raise PermanentError(f"{method} {url}: too many redirects") from exc
    except httpx.InvalidURL as exc:
        raise PermanentError(f"invalid URL {url!r}: {exc}") from exc
    except httpx.UnsupportedProtocol as exc:
        raise PermanentError(f"{method} {url}: {exc}") from exc
    except httpx.TransportError as exc:
        raise RetryableError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from exc

    status = response.status_code
    if ok:
        out: dict[str, Any] = {
            "status": status,
            "headers": _redact(dict(response.headers), secrets),
            "body": _redact(_parse_body(response, raw, truncated), secrets),
        }
        if truncated:
            out["truncated"] = {"limit_bytes": cap,
                                "content_length": _int_or_none(response.headers.get("content-length"))}
        return out
    summary = f"{method} {url} returned HTTP {status}: {_excerpt(_decode_text(response, raw), secrets)}"
    if status in RETRYABLE_STATUSES or status >= 500:
        raise RetryableError(summary, details={"status": status})
    raise PermanentError(summary, details={"status": status})


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _apply_signature(ctx: ActionContext, sign: SignConfig, kwargs: dict[str, Any]) -> list[str]:
    """Serialise the body ourselves (the signature must cover the exact bytes sent) and sign it.

    Returns the signing secret so it is redacted from anything the step reports.
    """
    conn = ctx.get_connection(sign.secret_connection)
    if conn.type != "http":
        raise PermanentError(f"signing connection {conn.name!r} has type {conn.type!r}, expected 'http'")
    secret = str(_reveal(conn.secret.get("signing_secret") or ""))
    if not secret:
        raise PermanentError(f"signing connection {conn.name!r} has no signing_secret")
    headers: dict[str, str] = kwargs["headers"]
    if "json" in kwargs:
        body = jsonlib.dumps(kwargs.pop("json"), separators=(",", ":"), ensure_ascii=False).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        kwargs["content"] = body
    else:
        body = kwargs.get("content") or b""
    if sign.scheme == "standard_webhooks":
        headers.update(_standard_headers(ctx, conn.name, secret, body))
        return [secret]
    timestamp = int(time.time()) if sign.timestamp_header else None
    if sign.timestamp_header:
        headers[sign.timestamp_header] = str(timestamp)
    headers[sign.header] = sign_body(secret, body, sign, timestamp)
    return [secret]


def _standard_headers(ctx: ActionContext, conn_name: str, secret: str, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers. The message id derives from the step's idempotency key,
    so a retry of the same step is recognisably the same message to the receiver (it dedupes)."""
    msg_id = "msg_" + hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:27]
    try:
        return standard_webhooks.sign_headers(body, secret, msg_id, datetime.now(UTC))
    except Exception:  # the package raises binascii/ValueError for a secret that is not base64
        raise PermanentError(f"signing connection {conn_name!r}: signing_secret is not a Standard Webhooks "
                             "secret (expected whsec_ followed by base64)") from None
