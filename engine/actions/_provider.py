"""Shared plumbing for actions that call a SaaS provider's REST API (SMS, CRM, Slack).

Every call goes through :func:`engine.outbound.guarded_client`, and failures are classified the
same way everywhere: timeouts, connection errors, 408, 429 and 5xx are retryable; other 4xx are
permanent and carry the provider's own message (what a user needs to fix the step). Messages
name the provider and the operation, never the URL when the URL itself is a secret (Slack), and
every known secret string is scrubbed from them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from engine.config import Settings
from engine.errors import PermanentError, RetryableError
from engine.outbound import OutboundRefused, guarded_client
from engine.redaction import redact

EXCERPT_CHARS = 300
RETRYABLE_STATUSES = frozenset({408, 425, 429})


class _HostOnlyUrls(logging.Filter):
    """httpx logs every request URL at INFO; paths and queries can be credentials (a Slack webhook
    URL, ``?token=`` parameters), so its log lines keep only scheme and host."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(f"{a.scheme}://{a.netloc.decode('ascii', 'replace')}/…" if isinstance(a, httpx.URL)
                                else a for a in record.args)
        return True


if not any(isinstance(f, _HostOnlyUrls) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_HostOnlyUrls())


def reveal(value: Any) -> str:
    """Plain string from a stored secret (str or SecretStr)."""
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if callable(getter) else value)


def scrub(text: str, secrets: list[str]) -> str:
    """Remove known secrets from a message; a safe no-op when there are none."""
    return redact(text, secrets) if secrets else text


def provider_message(response: httpx.Response) -> str:
    """The most useful human message in a provider's error body (JSON or text), shortened."""
    text = response.text or ""
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError):
        data = None
    if isinstance(data, dict):
        for key in ("message", "response_msg", "error_description", "error", "detail", "more_info"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                text = value
                break
    text = " ".join(text.split())
    return text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else "")


async def send(
    settings: Settings,
    method: str,
    url: str,
    *,
    what: str,
    secrets: list[str],
    timeout: float = 30.0,
    **kwargs: Any,
) -> httpx.Response:
    """Make one guarded request; transport problems become Retryable/Permanent errors.

    ``what`` names the call in messages (e.g. "Twilio send SMS"); the URL is never included so
    a secret URL (a Slack webhook) cannot leak through an error.
    """
    try:
        async with guarded_client(settings, timeout=timeout, follow_redirects=False) as client:
            return await client.request(method, url, **kwargs)
    except OutboundRefused as exc:
        raise OutboundRefused(scrub(f"{what}: {exc}", secrets)) from None
    except httpx.TimeoutException:
        raise RetryableError(f"{what} timed out after {timeout:g}s") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise PermanentError(scrub(f"{what}: invalid URL ({type(exc).__name__})", secrets)) from None
    except httpx.TransportError as exc:
        raise RetryableError(scrub(f"{what} failed: {type(exc).__name__}: {exc}", secrets)) from None


def raise_for_status(response: httpx.Response, *, what: str, secrets: list[str]) -> None:
    """Raise the right StepError for a non-2xx answer, with the provider's message."""
    status = response.status_code
    if 200 <= status < 300:
        return
    message = scrub(f"{what} returned HTTP {status}: {provider_message(response)}", secrets)
    details = {"status": status}
    if status in RETRYABLE_STATUSES or status >= 500:
        raise RetryableError(message, details=details, retry_after=retry_after_seconds(response))
    raise PermanentError(message, details=details)


def retry_after_seconds(response: httpx.Response, *, cap_s: float = 86400.0) -> float | None:
    """``Retry-After`` of a 429/503 answer in seconds (delta-seconds or an HTTP date), else None.

    The executor waits exactly this long instead of its own backoff: a provider that says when
    it will take calls again is better informed than our guess.
    """
    if response.status_code not in (429, 503):
        return None
    value = (response.headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        from datetime import UTC, datetime

        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, min(seconds, cap_s))


def json_body(response: httpx.Response) -> Any:
    """Parsed JSON, or None when the body is empty or not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def join_url(base: str, path: str) -> str:
    """``https://api.example.com/`` + ``/v3/x`` → ``https://api.example.com/v3/x``."""
    return base.rstrip("/") + "/" + path.lstrip("/")
