"""Calls to the Xero Accounting API (``/api.xro/2.0``) shared by the ``xero.*`` actions.

Every call carries the connection's OAuth token (refreshed as needed by :mod:`engine.oauth.tokens`)
and the chosen organisation in ``xero-tenant-id``. Xero's answers are classified here once:
429 waits exactly ``Retry-After`` (Xero's minute and daily limits say when they reset), a
``ValidationException`` becomes a permanent error carrying Xero's own validation messages,
5xx is retryable.
"""

from __future__ import annotations

from typing import Any

import httpx

from engine.actions._provider import json_body, raise_for_status, retry_after_seconds
from engine.context import ActionContext, ConnectionData
from engine.errors import PermanentError, RetryableError

XERO_API = "https://api.xero.com"
ACCOUNTING = "/api.xro/2.0"


def xero_connection(ctx: ActionContext, ref: str) -> tuple[ConnectionData, str, str]:
    """The connection, its API base URL and its organisation (tenant) id."""
    conn = ctx.get_connection(ref)
    if conn.type != "xero":
        raise PermanentError(f"connection {conn.name!r} has type {conn.type!r}, expected 'xero'")
    tenant = str(conn.config.get("tenant_id") or "")
    if not tenant:
        raise PermanentError(f"connection {conn.name!r} has no Xero organisation chosen yet: open Connections "
                             "and choose one")
    return conn, str(conn.config.get("base_url") or XERO_API).rstrip("/"), tenant


def validation_messages(response: httpx.Response) -> list[str]:
    """Xero's ``Elements[].ValidationErrors[].Message`` (what a person must fix)."""
    data = json_body(response)
    out: list[str] = []
    if isinstance(data, dict):
        for element in data.get("Elements") or []:
            for err in (element or {}).get("ValidationErrors") or []:
                if isinstance(err, dict) and err.get("Message"):
                    out.append(str(err["Message"]))
        if not out and data.get("Message"):
            out.append(str(data["Message"]))
        if not out and data.get("Detail"):
            out.append(str(data["Detail"]))
    return out


async def xero_call(ctx: ActionContext, conn: ConnectionData, base: str, tenant: str, method: str, path: str, *,
                    what: str, timeout: float = 30.0, idempotency_key: str | None = None,
                    **kwargs: Any) -> dict[str, Any]:
    headers = {"xero-tenant-id": tenant, "Accept": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key[:128]
    response = await ctx.oauth_api().oauth_request(ctx, conn, method, f"{base}{ACCOUNTING}{path}", what=what,
                                                   timeout=timeout, headers=headers, **kwargs)
    status = response.status_code
    if status == 429:
        wait = retry_after_seconds(response)
        problem = response.headers.get("x-rate-limit-problem") or "rate"
        raise RetryableError(f"{what}: Xero {problem} limit reached; retrying when Xero allows"
                             + (f" (in {wait:g} s)" if wait is not None else ""), details={"status": 429},
                             retry_after=wait)
    if status == 400:
        messages = validation_messages(response) or ["validation failed"]
        raise PermanentError(f"{what}: Xero refused it: " + "; ".join(messages)[:500], details={"status": 400})
    if status == 403:
        raise PermanentError(f"{what}: Xero refused access to this organisation (HTTP 403); reconnect and check "
                             "the organisation and scopes", details={"status": 403})
    raise_for_status(response, what=what, secrets=[])
    return json_body(response) or {}
