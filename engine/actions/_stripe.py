"""Calls to the Stripe API shared by the ``stripe.*`` actions.

Stripe takes form-encoded bodies with bracketed nesting (``metadata[order]=42``,
``line_items[0][price_data][currency]=aud``), authenticates with the secret (or restricted) key
as a Bearer token, and de-duplicates POSTs by ``Idempotency-Key``: we send our step's key, so a
retried step returns the first attempt's object instead of creating a second one.
"""

from __future__ import annotations

from typing import Any

from engine.actions._provider import json_body, raise_for_status, reveal, send
from engine.context import ActionContext
from engine.errors import PermanentError

STRIPE_API = "https://api.stripe.com"
#: The API version these actions were written against; pinned so account upgrades change nothing.
STRIPE_VERSION = "2025-11-17.clover"


def form_pairs(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested dicts/lists into Stripe's ``a[b][0][c]=v`` form fields (None is skipped)."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, dict):
            out.extend(form_pairs(value, name))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    out.extend(form_pairs(item, f"{name}[{i}]"))
                else:
                    out.append((f"{name}[{i}]", _text(item)))
        else:
            out.append((name, _text(value)))
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def stripe_call(ctx: ActionContext, connection: str, method: str, path: str, *, what: str,
                      params: dict[str, Any] | None = None, idempotency_key: str | None = None,
                      timeout: float = 30.0) -> dict[str, Any]:
    conn = ctx.get_connection(connection)
    if conn.type != "stripe":
        raise PermanentError(f"connection {conn.name!r} has type {conn.type!r}, expected 'stripe'")
    key = reveal(conn.secret.get("api_key") or "")
    if not key:
        raise PermanentError(f"connection {conn.name!r} has no api_key")
    base = str(conn.config.get("base_url") or STRIPE_API).rstrip("/")
    headers = {"Authorization": f"Bearer {key}", "Stripe-Version": STRIPE_VERSION}
    kwargs: dict[str, Any] = {"headers": headers}
    if method == "GET":
        kwargs["params"] = form_pairs(params or {})
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        from urllib.parse import urlencode

        kwargs["content"] = urlencode(form_pairs(params or {})).encode()
    response = await send(ctx.settings, method, base + path, what=what, secrets=[key], timeout=timeout, **kwargs)
    if response.status_code == 400 or response.status_code == 402:
        data = json_body(response) or {}
        err = data.get("error") or {}
        param = f" (field {err['param']})" if err.get("param") else ""
        raise PermanentError(f"{what}: Stripe refused it: {err.get('message') or response.text[:200]}{param}",
                             details={"status": response.status_code, "code": err.get("code")})
    raise_for_status(response, what=what, secrets=[key])
    return json_body(response) or {}


def customer_summary(c: dict[str, Any]) -> dict[str, Any]:
    return {"customer_id": c.get("id"), "email": c.get("email"), "name": c.get("name"), "phone": c.get("phone"),
            "created": c.get("created"), "metadata": c.get("metadata") or {}, "livemode": c.get("livemode")}
