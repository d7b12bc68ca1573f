"""Shopify Admin GraphQL API calls shared by the ``shopify.*`` actions.

``POST https://{shop}.myshopify.com/admin/api/{version}/graphql.json`` with the app's Admin API
access token in ``X-Shopify-Access-Token``. GraphQL reports failures three ways and each is
classified: HTTP 401/403/404 (bad token, shop or version: permanent), top-level ``errors``
(``THROTTLED`` is Shopify's cost-based rate limit: retryable; anything else: permanent), and
``userErrors`` in the mutation payload (the input was refused: permanent, with Shopify's words).
"""

from __future__ import annotations

import re
from typing import Any

from engine.actions._provider import json_body, raise_for_status, reveal, send
from engine.context import ActionContext
from engine.errors import PermanentError, RetryableError

DEFAULT_API_VERSION = "2025-10"
_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*(\.myshopify\.com)?$")


def gid(kind: str, value: str) -> str:
    """``123`` or ``gid://shopify/Order/123`` → the global id GraphQL wants."""
    value = str(value).strip()
    if value.startswith("gid://"):
        return value
    if not value.isdigit():
        raise PermanentError(f"{kind} id {value!r} is neither a number nor a gid://shopify/{kind}/… id")
    return f"gid://shopify/{kind}/{value}"


async def shopify_graphql(ctx: ActionContext, connection: str, query: str, variables: dict[str, Any], *,
                          what: str, timeout: float = 30.0) -> dict[str, Any]:
    conn = ctx.get_connection(connection)
    if conn.type != "shopify":
        raise PermanentError(f"connection {conn.name!r} has type {conn.type!r}, expected 'shopify'")
    token = reveal(conn.secret.get("access_token") or "")
    shop = str(conn.config.get("shop_domain") or "").strip().lower()
    if not token or not shop:
        raise PermanentError(f"connection {conn.name!r} needs shop_domain and access_token")
    if not _SHOP.match(shop):
        raise PermanentError(f"connection {conn.name!r}: shop_domain must look like your-shop.myshopify.com")
    if not shop.endswith(".myshopify.com"):
        shop += ".myshopify.com"
    version = str(conn.config.get("api_version") or DEFAULT_API_VERSION)
    base = str(conn.config.get("base_url") or f"https://{shop}").rstrip("/")
    response = await send(ctx.settings, "POST", f"{base}/admin/api/{version}/graphql.json", what=what,
                          secrets=[token], timeout=timeout,
                          headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"},
                          json={"query": query, "variables": variables})
    raise_for_status(response, what=what, secrets=[token])
    data = json_body(response) or {}
    errors = data.get("errors") or []
    if errors:
        codes = {str((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)}
        message = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))[:400]
        if "THROTTLED" in codes:
            raise RetryableError(f"{what}: Shopify throttled the call ({message})")
        raise PermanentError(f"{what}: Shopify answered: {message}")
    return data.get("data") or {}


def user_errors(payload: dict[str, Any] | None, what: str) -> None:
    """Raise when a mutation's ``userErrors`` list is not empty."""
    errs = (payload or {}).get("userErrors") or []
    if errs:
        text = "; ".join(f"{'.'.join(e.get('field') or []) or 'input'}: {e.get('message')}" for e in errs)
        raise PermanentError(f"{what}: Shopify refused it: {text}"[:500])
