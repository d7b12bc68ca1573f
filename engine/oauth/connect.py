"""The authorization-code flow: start ("Connect"), callback, and choosing a tenant.

``state`` is what ties the provider's redirect back to the person who clicked Connect. It is
random (256 bits), stored only as its SHA-256, bound to the browser session (its hash) and the
workspace, valid for ten minutes and for one use: the first callback that presents it consumes
it in a conditional UPDATE, so a replayed or leaked callback URL is refused even a second later.
With PKCE the code itself is also useless without the verifier, which never leaves the server.

Connections are created and updated through :mod:`engine.services.connections` (roles,
workspace scoping, audit rows); this module only adds the grant row that tracks token health.
"""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, select

from engine.config import Settings, get_settings
from engine.crypto import decrypt_json, encrypt_json, hash_token
from engine.db import as_aware, session_scope, utcnow
from engine.errors import Conflict, FlowMateError, ValidationFailed
from engine.models import Connection, OAuthGrant, OAuthState, Role, User
from engine.oauth import tokens
from engine.oauth.flows import ClientConfig, OAuthFlow, client_config
from engine.oauth.providers import flow_for
from engine.oauth.tokens import expires_at_of, oauth_client, token_secret
from engine.services import audit
from engine.services import connections as connection_service
from engine.services.accounts import actor_for_user
from engine.services.actor import Actor
from engine.services.sessions import resolve_session

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.common.security import generate_token
    from authlib.integrations.base_client.errors import OAuthError

STATE_TTL = timedelta(minutes=10)
CALLBACK_PATH = "/oauth/callback"


class ConnectRefused(FlowMateError):
    """The callback cannot be honoured (unknown, used, expired or foreign state; provider error).
    The message is written for the person in the browser."""


def redirect_uri(settings: Settings | None = None) -> str:
    """The callback URL to register with the provider app (from FLOWMATE_BASE_URL)."""
    return (settings or get_settings()).base_url.rstrip("/") + CALLBACK_PATH


def _flow_and_config(connection_type: str) -> tuple[OAuthFlow, ClientConfig]:
    flow = flow_for(connection_type)
    if flow is None:
        raise ValidationFailed("this connection type does not connect with OAuth",
                               {"type": f"{connection_type!r} takes pasted credentials"})
    cfg = client_config(flow)
    if not cfg.configured:
        raise ValidationFailed(f"{flow.title} is not configured on this server", {
            "type": f"the administrator must set {flow.env_prefix}CLIENT_ID and {flow.env_prefix}CLIENT_SECRET"})
    return flow, cfg


def provider_status(connection_type: str) -> dict[str, Any]:
    """What the Connections form shows for an OAuth type: configured or not, and the callback URL."""
    flow = flow_for(connection_type)
    if flow is None:
        return {"oauth": False}
    cfg = client_config(flow)
    return {"oauth": True, "title": flow.title, "configured": cfg.configured, "redirect_uri": redirect_uri(),
            "env_prefix": flow.env_prefix, "scopes": list(flow.scopes)}


def start_connect(session: Session, actor: Actor, session_token: str, connection_type: str, name: str,
                  connection_id: str | None = None, settings: Settings | None = None) -> str:
    """Record a new state and return the provider's authorize URL to send the browser to."""
    actor.require(Role.editor)
    settings = settings or get_settings()
    flow, cfg = _flow_and_config(connection_type)
    name = (name or "").strip()
    if connection_id:
        conn = connection_service.get_connection(session, actor, connection_id)
        if conn.type != connection_type:
            raise ValidationFailed("this connection has another type", {"type": f"it is a {conn.type} connection"})
        name = conn.name
    else:
        if not name or len(name) > 200:
            raise ValidationFailed("the connection is invalid", {"name": "required, at most 200 characters"})
        taken = session.exec(select(Connection).where(Connection.workspace_id == actor.workspace_id,
                                                      Connection.name == name)).first()
        if taken is not None:
            raise Conflict(f"a connection named {name!r} already exists")
    if not actor.user_id:
        raise ValidationFailed("connecting needs a signed-in person", {"session": "sign in to the web app"})
    state = secrets.token_urlsafe(32)
    verifier = generate_token(64) if flow.pkce else ""
    client = oauth_client(cfg, settings, scope=" ".join(flow.scopes), redirect_uri=redirect_uri(settings),
                          code_challenge_method="S256" if flow.pkce else None)
    url, _ = client.create_authorization_url(cfg.authorize_url, state=state, code_verifier=verifier or None,
                                             **flow.extra_authorize_params)
    now = utcnow()
    # Keep the table small: states are worthless an hour after they expired.
    session.exec(delete(OAuthState).where(OAuthState.expires_at < now - timedelta(hours=1)))
    session.add(OAuthState(
        state_hash=hash_token(state), workspace_id=actor.workspace_id, user_id=actor.user_id,
        session_hash=hash_token(session_token), connection_type=connection_type, connection_name=name,
        connection_id=connection_id, verifier_encrypted=encrypt_json({"v": verifier}, settings),
        redirect_uri=redirect_uri(settings), created_at=now, expires_at=now + STATE_TTL,
    ))
    return url


@dataclass
class Connected:
    """The outcome of a callback: which connection, and tenants to choose from (more than one)."""

    connection_id: str
    name: str
    connection_type: str
    tenants: list[dict[str, str]] = field(default_factory=list)

    @property
    def needs_tenant(self) -> bool:
        return len(self.tenants) > 1


def _consume_state(state: str, session_token: str | None) -> OAuthState:
    """Mark the state used (single use), then check its expiry and session binding."""
    if not state:
        raise ConnectRefused("The sign-in answer has no state. Start again from Connections → Connect.")
    state_hash = hash_token(state)
    with session_scope() as session:
        row = session.get(OAuthState, state_hash)
        if row is None:
            raise ConnectRefused("This sign-in link is not one FlowMate issued. Start again from Connections.")
        taken = session.exec(update(OAuthState).where(OAuthState.state_hash == state_hash,
                                                      OAuthState.used_at.is_(None)).values(used_at=utcnow()))
        if not taken.rowcount:
            raise ConnectRefused("This sign-in link was already used. Start again from Connections → Connect.")
        session.expunge(row)
    if as_aware(row.expires_at) <= utcnow():
        raise ConnectRefused("This sign-in link expired (they last 10 minutes). Start again from Connections.")
    if not session_token or hash_token(session_token) != row.session_hash:
        raise ConnectRefused("This sign-in was started in another browser session. Start again from Connections.")
    return row


async def complete_connect(state: str, code: str | None, error: str | None, session_token: str | None,
                           settings: Settings | None = None) -> Connected:
    """Handle ``/oauth/callback``: consume the state, redeem the code (with the PKCE verifier),
    store the tokens, and list the tenants when the provider has them."""
    settings = settings or get_settings()
    row = _consume_state(state, session_token)
    with session_scope() as session:
        signed = resolve_session(session, session_token)
        user = session.get(User, row.user_id)
        if signed is None or signed.user_id != row.user_id or user is None:
            raise ConnectRefused("Your session ended before the sign-in finished. Sign in and connect again.")
        actor = actor_for_user(session, user, row.workspace_id)
        actor.require(Role.editor)
    flow, cfg = _flow_and_config(row.connection_type)
    if error:
        raise ConnectRefused(f"{flow.title} did not grant access ({error[:100]}). Nothing was changed.")
    if not code:
        raise ConnectRefused(f"{flow.title} sent no authorization code. Start again from Connections.")
    verifier = decrypt_json(row.verifier_encrypted, settings).get("v") or None
    tenants: list[dict[str, str]] = []
    try:
        async with oauth_client(cfg, settings, redirect_uri=row.redirect_uri) as client:
            token = dict(await client.fetch_token(cfg.token_url, grant_type="authorization_code", code=code,
                                                  code_verifier=verifier))
            if flow.list_tenants is not None:
                tenants = await flow.list_tenants(client, cfg.api_url)
    except OAuthError as exc:
        raise ConnectRefused(f"{flow.title} refused the sign-in ({exc.error}). Start again from Connections.") from None
    except Exception as exc:  # network, outbound guard, a provider answering garbage
        raise ConnectRefused(f"Could not finish connecting to {flow.title} ({type(exc).__name__}). "
                             "Try again in a moment.") from None
    if "access_token" not in token:
        raise ConnectRefused(f"{flow.title} answered without an access token. Start again from Connections.")
    config: dict[str, Any] = {"base_url": cfg.api_url}
    if flow.list_tenants is not None and len(tenants) == 1:
        config.update(tenant_id=tenants[0]["id"], tenant_name=tenants[0]["name"])
    with session_scope() as session:
        conn = _store(session, actor, row, token, config)
        result = Connected(connection_id=conn.id, name=conn.name, connection_type=conn.type, tenants=tenants)
    return result


def _store(session: Session, actor: Actor, row: OAuthState, token: dict[str, Any],
           config: dict[str, Any]) -> Connection:
    secret = token_secret(token)
    if row.connection_id:  # reconnect: keep the chosen tenant unless it is gone
        conn = connection_service.get_connection(session, actor, row.connection_id)
        merged = {**conn.config, **config}
        conn = connection_service.update_connection(session, actor, conn.id, {"config": merged, "secret": secret})
    else:
        conn = connection_service.create_connection(session, actor, {
            "type": row.connection_type, "name": row.connection_name, "config": config, "secret": secret})
    grant = session.get(OAuthGrant, conn.id) or OAuthGrant(connection_id=conn.id)
    grant.status, grant.status_message = "ok", ""
    grant.expires_at, grant.updated_at = expires_at_of(token), utcnow()
    session.add(grant)
    audit.record(session, actor, "connection.oauth_connected", "connection", conn.id,
                 {"type": conn.type, "name": conn.name, "scopes": token.get("scope") or ""})
    return conn


async def list_tenants(session_actor: Actor, connection_id: str, settings: Settings | None = None) -> list[dict]:
    """The organisations this connection's grant reaches (fresh from the provider)."""
    from engine.context import ActionContext
    from engine.oauth.tokens import access_token

    settings = settings or get_settings()
    with session_scope() as session:
        connection_service.get_connection(session, session_actor, connection_id)  # scoped: 404 if not ours
    data = connection_service.load_connection(session_actor.workspace_id, connection_id)
    flow, cfg = _flow_and_config(data.type)
    if flow.list_tenants is None:
        return []
    ctx = ActionContext(run_id="connect", step_key="tenants", workflow_id="", workspace_id=session_actor.workspace_id,
                        settings=settings, oauth=tokens)
    token = await access_token(ctx, data)
    async with oauth_client(cfg, settings, token={"access_token": token, "token_type": "Bearer"}) as client:
        return await flow.list_tenants(client, str(data.config.get("base_url") or cfg.api_url))


async def choose_tenant(actor: Actor, connection_id: str, tenant_id: str, settings: Settings | None = None) -> dict:
    """Point the connection at one of its organisations (checked against the provider's list)."""
    actor.require(Role.editor)
    tenants = await list_tenants(actor, connection_id, settings)
    chosen = next((t for t in tenants if t["id"] == tenant_id), None)
    if chosen is None:
        raise ValidationFailed("that organisation is not part of this connection", {"tenant_id": "pick one listed"})
    with session_scope() as session:
        conn = connection_service.get_connection(session, actor, connection_id)
        connection_service.update_connection(session, actor, connection_id, {
            "config": {**conn.config, "tenant_id": chosen["id"], "tenant_name": chosen["name"]}})
    return chosen


def grant_status(session: Session, connection_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{connection_id: {"status", "message", "expires_at"}}`` for the Connections page."""
    if not connection_ids:
        return {}
    rows = session.exec(select(OAuthGrant).where(OAuthGrant.connection_id.in_(connection_ids))).all()
    return {g.connection_id: {"status": g.status, "message": g.status_message,
                              "expires_at": as_aware(g.expires_at).isoformat() if g.expires_at else None}
            for g in rows}
