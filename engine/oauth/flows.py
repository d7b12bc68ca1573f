"""What an OAuth connection type declares, and the app credentials FlowMate connects with.

A flow is data, not code: adding a provider means one :class:`OAuthFlow` (plus, where the
provider needs it, an ``after_connect`` hook such as Xero's organisation list). The app's client
id and secret come from ``FLOWMATE_OAUTH_<PROVIDER>_CLIENT_ID`` / ``_CLIENT_SECRET`` (environment
or ``.env``); ``_AUTHORIZE_URL``, ``_TOKEN_URL`` and ``_API_URL`` override the provider's
endpoints (a regional or sandbox identity server; the tests' local authorization server).
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

with warnings.catch_warnings():  # Authlib nags about httpx vs its "httpx2" fork at import time
    import authlib.deprecate  # noqa: F401  (installs its own "always" filter: ours must come after it)

    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import AsyncOAuth2Client  # noqa: F401  (import once, quietly)

#: ``list_tenants(client, api_url) -> [{"id", "name"}]``: accounts one grant can reach (Xero organisations).
ListTenants = Callable[[Any, str], Awaitable[list[dict[str, str]]]]


@dataclass(frozen=True)
class OAuthFlow:
    """An authorization-code flow for one connection type."""

    connection_type: str
    title: str
    authorize_url: str
    token_url: str
    api_url: str
    scopes: tuple[str, ...]
    pkce: bool = True
    extra_authorize_params: dict[str, str] = field(default_factory=dict)
    #: How the client authenticates at the token endpoint (RFC 6749 §2.3).
    token_auth_method: str = "client_secret_basic"
    docs: str = ""
    list_tenants: ListTenants | None = None

    @property
    def env_prefix(self) -> str:
        return f"FLOWMATE_OAUTH_{self.connection_type.upper()}_"


class _ProviderEnv(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    authorize_url: str = ""
    token_url: str = ""
    api_url: str = ""


@dataclass(frozen=True)
class ClientConfig:
    """A flow with this installation's app credentials and endpoint overrides applied."""

    flow: OAuthFlow
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    api_url: str

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


def client_config(flow: OAuthFlow) -> ClientConfig:
    """Read ``FLOWMATE_OAUTH_<PROVIDER>_*`` now (not cached: an operator may add them at runtime)."""
    env = _ProviderEnv(_env_prefix=flow.env_prefix)  # type: ignore[call-arg]
    return ClientConfig(flow=flow, client_id=env.client_id.strip(),
                        client_secret=env.client_secret.get_secret_value().strip(),
                        authorize_url=env.authorize_url or flow.authorize_url,
                        token_url=env.token_url or flow.token_url, api_url=(env.api_url or flow.api_url).rstrip("/"))
