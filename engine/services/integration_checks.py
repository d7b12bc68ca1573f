""""Test" for the integration connection types: one cheap, read-only call with the stored
credentials (the same calls the actions make, so a green test means the actions will work).

OAuth types go through :mod:`engine.oauth.tokens`, so a test also refreshes an expiring token,
and a refused refresh shows up here as "needs to be reconnected".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from engine.actions._provider import join_url, json_body, raise_for_status, reveal, send
from engine.config import Settings
from engine.context import ActionContext, ConnectionData
from engine.errors import PermanentError
from engine.oauth import tokens
from engine.oauth.flows import client_config
from engine.oauth.providers import flow_for
from engine.oauth.tokens import access_token, oauth_request


def _ctx(conn: ConnectionData, settings: Settings) -> ActionContext:
    return ActionContext(run_id="test", step_key=conn.type, workflow_id="", workspace_id="", settings=settings,
                         connection_loader=lambda _ref: conn, oauth=tokens)


async def _xero(conn: ConnectionData, settings: Settings) -> str:
    flow = flow_for("xero")
    base = str(conn.config.get("base_url") or client_config(flow).api_url)  # type: ignore[arg-type]
    response = await oauth_request(_ctx(conn, settings), conn, "GET", f"{base}/connections", what="Xero connections")
    raise_for_status(response, what="Xero connections", secrets=[])
    tenants = [t.get("tenantName") for t in (json_body(response) or []) if isinstance(t, dict)]
    chosen = conn.config.get("tenant_name")
    if not conn.config.get("tenant_id"):
        return f"Connected; choose one of {len(tenants)} organisations"
    return f"Connected to {chosen}" if chosen in tenants else f"Connected ({len(tenants)} organisations)"


async def _google_sheets(conn: ConnectionData, settings: Settings) -> str:
    await access_token(_ctx(conn, settings), conn)
    return "Connected: the Google token is valid"


async def _stripe(conn: ConnectionData, settings: Settings) -> str:
    key = reveal(conn.secret.get("api_key") or "")
    base = str(conn.config.get("base_url") or "https://api.stripe.com")
    response = await send(settings, "GET", join_url(base, "/v1/customers"), what="Stripe", secrets=[key],
                          params={"limit": 1}, headers={"Authorization": f"Bearer {key}"})
    raise_for_status(response, what="Stripe", secrets=[key])
    mode = "test" if key.startswith(("sk_test_", "rk_test_")) else "live"
    return f"Stripe key works ({mode} mode)"


async def _shopify(conn: ConnectionData, settings: Settings) -> str:
    from engine.actions._shopify import shopify_graphql

    data = await shopify_graphql(_ctx(conn, settings), conn.name, "query Shop { shop { name } }", {}, what="Shopify")
    return f"Connected to {((data.get('shop') or {}).get('name')) or 'the shop'}"


async def _mailchimp(conn: ConnectionData, settings: Settings) -> str:
    from engine.actions.mailchimp_upsert_member import api_base

    key = reveal(conn.secret.get("api_key") or "")
    if not key:
        raise PermanentError("no api_key")
    base = str(conn.config.get("base_url") or api_base(key))
    response = await send(settings, "GET", join_url(base, "/3.0/ping"), what="Mailchimp", secrets=[key],
                          auth=("flowmate", key))
    raise_for_status(response, what="Mailchimp", secrets=[key])
    return str((json_body(response) or {}).get("health_status") or "Mailchimp key works")


INTEGRATION_CHECKS: dict[str, Callable[[ConnectionData, Settings], Awaitable[str]]] = {
    "xero": _xero, "google_sheets": _google_sheets, "stripe": _stripe, "shopify": _shopify, "mailchimp": _mailchimp,
}
