"""The built-in OAuth flows: Xero and Google (Sheets).

Scopes are the narrowest that cover our actions. Xero apps created since March 2026 only accept
the granular accounting scopes (``accounting.invoices``, ``accounting.payments``...), which older
apps accept too; ``offline_access`` is what yields a refresh token. Google only returns a refresh
token with ``access_type=offline``, and only on first consent unless ``prompt=consent``.
"""

from __future__ import annotations

from typing import Any

from engine.oauth.flows import OAuthFlow


async def xero_tenants(client: Any, api_url: str) -> list[dict[str, str]]:
    """Organisations the grant may reach (``GET /connections``): a Xero token is not bound to one
    organisation, so every API call names its tenant, chosen once after connecting."""
    response = await client.get(f"{api_url}/connections", headers={"Accept": "application/json"})
    response.raise_for_status()
    data = response.json() if response.content else []
    return [{"id": str(t.get("tenantId")), "name": str(t.get("tenantName") or t.get("tenantId")),
             "type": str(t.get("tenantType") or "")}
            for t in data if isinstance(t, dict) and t.get("tenantId") and t.get("tenantType", "ORGANISATION")
            == "ORGANISATION"]


#: Every OAuth connection type's flow, by connection type (the built-ins are declared below).
FLOWS: dict[str, OAuthFlow] = {}


def register_flow(flow: OAuthFlow) -> OAuthFlow:
    """Declare that connection type ``flow.connection_type`` connects through OAuth."""
    if flow.connection_type in FLOWS:
        raise ValueError(f"OAuth flow for {flow.connection_type!r} is registered twice")
    FLOWS[flow.connection_type] = flow
    return flow


def flow_for(connection_type: str) -> OAuthFlow | None:
    """The flow of an OAuth connection type (``None`` for pasted-credential types)."""
    return FLOWS.get(connection_type)


def all_flows() -> dict[str, OAuthFlow]:
    return dict(FLOWS)


XERO = register_flow(OAuthFlow(
    connection_type="xero",
    title="Xero",
    authorize_url="https://login.xero.com/identity/connect/authorize",
    token_url="https://identity.xero.com/connect/token",
    api_url="https://api.xero.com",
    scopes=("openid", "profile", "email", "offline_access", "accounting.contacts", "accounting.invoices",
            "accounting.payments", "accounting.settings.read"),
    pkce=True,
    docs="docs/integrations/xero.md",
    list_tenants=xero_tenants,
))

GOOGLE_SHEETS = register_flow(OAuthFlow(
    connection_type="google_sheets",
    title="Google Sheets",
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",
    api_url="https://sheets.googleapis.com",
    scopes=("https://www.googleapis.com/auth/spreadsheets",),
    pkce=True,
    extra_authorize_params={"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"},
    token_auth_method="client_secret_post",
    docs="docs/integrations/google-sheets.md",
))
