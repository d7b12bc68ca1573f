"""Valid access tokens for actions: refresh before expiry and after a 401, exactly once at a time.

A refresh token is often single-use (Xero rotates it on every refresh and treats a second use of
the old one as theft, revoking the grant), so two steps that find the token expiring at the same
moment must not both refresh. The refresh therefore runs under a per-connection lock held in the
database — ``SELECT ... FOR UPDATE`` on the connection's :class:`~engine.models.OAuthGrant` row in
PostgreSQL; in SQLite, where row locks do not exist, an UPDATE of that row takes the database's
write lock — so the lock works across threads, worker processes and machines. Whoever waited
re-reads the tokens after the lock is theirs and uses the fresh one instead of refreshing again.

When the provider refuses the refresh (``invalid_grant``: revoked, expired, or used twice), the
grant is marked ``reconnect_needed``; steps then fail at once with :class:`ReconnectNeeded`
(not retryable: only a person clicking Reconnect can fix it). Network trouble or a 5xx at the
token endpoint is retryable and changes nothing.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import select, update
from sqlalchemy.engine import Connection as DBConnection
from sqlmodel import Session

from engine.config import Settings
from engine.context import ActionContext, ConnectionData
from engine.crypto import decrypt_json, encrypt_json
from engine.db import as_aware, get_engine, utcnow
from engine.errors import PermanentError, RetryableError
from engine.models import Connection, OAuthGrant
from engine.oauth.flows import ClientConfig, client_config
from engine.oauth.providers import flow_for
from engine.outbound import OutboundRefused, guarded_client_options
from engine.services import audit, connection_alerts
from engine.services.actor import Actor

log = structlog.get_logger("flowmate.oauth")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client

#: Refresh when the access token has less than this left: a step must not start a call with a
#: token that dies on the way.
REFRESH_LEEWAY_S = 120
#: Token endpoint answers that mean the grant itself is gone (RFC 6749 §5.2).
GRANT_GONE = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"})

grant_t = OAuthGrant.__table__
connection_t = Connection.__table__


class ReconnectNeeded(PermanentError):
    """The provider no longer accepts this connection's refresh token: a person must reconnect."""


def oauth_client(cfg: ClientConfig, settings: Settings, *, timeout: float = 30.0, **kwargs: Any) -> AsyncOAuth2Client:
    """Authlib's httpx OAuth 2.0 client, with every hop checked by the outbound guard."""
    return AsyncOAuth2Client(
        client_id=cfg.client_id, client_secret=cfg.client_secret,
        token_endpoint_auth_method=cfg.flow.token_auth_method, timeout=timeout, follow_redirects=False,
        **guarded_client_options(settings), **kwargs,
    )


def expires_at_of(token: dict[str, Any]) -> datetime | None:
    """When a token response says the access token expires (``expires_at`` or ``expires_in``)."""
    if token.get("expires_at"):
        return datetime.fromtimestamp(float(token["expires_at"]), UTC)
    if token.get("expires_in"):
        return utcnow() + timedelta(seconds=float(token["expires_in"]))
    return None


def token_secret(token: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, str]:
    """What the connection's encrypted secret keeps: the tokens, nothing else. A provider that does
    not rotate refresh tokens omits it from refresh answers; then the old one stays."""
    out = {"access_token": str(token["access_token"])}
    refresh = token.get("refresh_token") or (old or {}).get("refresh_token")
    if refresh:
        out["refresh_token"] = str(refresh)
    return out


def _config_for(conn_type: str) -> ClientConfig:
    flow = flow_for(conn_type)
    if flow is None:
        raise PermanentError(f"connection type {conn_type!r} does not use OAuth")
    cfg = client_config(flow)
    if not cfg.configured:
        raise PermanentError(f"{flow.title} is not configured on this server (set {flow.env_prefix}CLIENT_ID "
                             f"and {flow.env_prefix}CLIENT_SECRET)")
    return cfg


def _read_grant(connection_id: str) -> dict[str, Any] | None:
    with get_engine().connect() as db:
        row = db.execute(select(grant_t).where(grant_t.c.connection_id == connection_id)).mappings().first()
    return dict(row) if row else None


def _expiring(expires_at: datetime | None) -> bool:
    return expires_at is not None and (as_aware(expires_at) - utcnow()).total_seconds() < REFRESH_LEEWAY_S


async def access_token(ctx: ActionContext, conn: ConnectionData) -> str:
    """A usable access token for ``conn``, refreshed first when it is about to expire."""
    grant = await asyncio.to_thread(_read_grant, conn.id)
    title = getattr(flow_for(conn.type), "title", conn.type)
    if grant is None or not conn.secret.get("access_token"):
        raise PermanentError(f"connection {conn.name!r} is not connected to {title} yet: "
                             "use Connect on the Connections page")
    if grant["status"] == "reconnect_needed":
        raise ReconnectNeeded(f"connection {conn.name!r} needs to be reconnected to {title}: "
                              f"{grant['status_message'] or 'the provider refused its refresh token'}")
    token = str(conn.secret["access_token"])
    if not _expiring(grant["expires_at"]):
        return token
    return await refresh(ctx.settings, conn, stale=token)


async def refresh(settings: Settings, conn: ConnectionData, *, stale: str) -> str:
    """Refresh under the connection's lock; ``stale`` is the token the caller found wanting.

    Runs in a worker thread with its own event loop: the lock is a blocking database call, and
    two coroutines of one loop waiting on each other's lock would otherwise deadlock.
    """
    return await asyncio.to_thread(_refresh_locked, settings, conn.id, conn.type, conn.name, stale)


def _lock_grant(db: DBConnection, connection_id: str) -> dict[str, Any] | None:
    where = grant_t.c.connection_id == connection_id
    if db.dialect.name == "postgresql":
        row = db.execute(select(grant_t).where(where).with_for_update()).mappings().first()
    else:  # SQLite: a write as the first statement takes the database write lock until commit
        db.execute(update(grant_t).where(where).values(refresh_count=grant_t.c.refresh_count))
        row = db.execute(select(grant_t).where(where)).mappings().first()
    return dict(row) if row else None


def _refresh_locked(settings: Settings, connection_id: str, conn_type: str, name: str, stale: str) -> str:
    cfg = _config_for(conn_type)
    refused: str | None = None
    with get_engine().begin() as db:
        grant = _lock_grant(db, connection_id)
        found = db.execute(select(connection_t.c.secret_encrypted, connection_t.c.workspace_id)
                           .where(connection_t.c.id == connection_id)).first()
        secret_row, workspace_id = (found[0], found[1]) if found else (None, None)
        if grant is None or secret_row is None:
            raise PermanentError(f"connection {name!r} is not connected to {cfg.flow.title} yet")
        if grant["status"] == "reconnect_needed":
            raise ReconnectNeeded(f"connection {name!r} needs to be reconnected to {cfg.flow.title}: "
                                  f"{grant['status_message']}")
        secret = decrypt_json(secret_row) if secret_row else {}
        current = str(secret.get("access_token") or "")
        if current and current != stale and not _expiring(grant["expires_at"]):
            return current  # another step refreshed while we waited for the lock
        refresh_token = str(secret.get("refresh_token") or "")
        if not refresh_token:
            refused = "the provider gave no refresh token (was offline access granted?)"
        else:
            try:
                token = asyncio.run(_call_refresh(cfg, settings, refresh_token))
            except OAuthError as exc:
                if exc.error not in GRANT_GONE:
                    raise RetryableError(f"{cfg.flow.title} token refresh failed: {exc.error}") from None
                detail = f"{exc.error}: {exc.description}" if exc.description else exc.error
                refused = f"{cfg.flow.title} refused the refresh ({detail})"[:480]
            else:
                now = utcnow()
                db.execute(update(connection_t).where(connection_t.c.id == connection_id).values(
                    secret_encrypted=encrypt_json(token_secret(token, secret), settings), updated_at=now))
                db.execute(update(grant_t).where(grant_t.c.connection_id == connection_id).values(
                    status="ok", status_message="", expires_at=expires_at_of(token), refreshed_at=now,
                    refresh_count=grant_t.c.refresh_count + 1, updated_at=now))
                return str(token["access_token"])
        db.execute(update(grant_t).where(grant_t.c.connection_id == connection_id).values(
            status="reconnect_needed", status_message=refused, updated_at=utcnow()))
        with Session(bind=db) as audit_session:  # the audit row commits with the status change
            audit.record(audit_session, Actor.system(str(workspace_id), "oauth-refresh"), "connection.reconnect_needed",
                         "connection", connection_id, {"name": name, "reason": refused})
            audit_session.flush()
    # committed: every later step fails fast with the same clear message; the owners hear once
    try:
        connection_alerts.reconnect_needed(str(workspace_id), name, cfg.flow.title, refused or "")
    except Exception:  # the alert must never hide the step's own, clearer error
        log.exception("oauth.reconnect_alert_failed", connection_id=connection_id)
    raise ReconnectNeeded(f"connection {name!r} needs to be reconnected to {cfg.flow.title}: {refused}")


async def _call_refresh(cfg: ClientConfig, settings: Settings, refresh_token: str) -> dict[str, Any]:
    try:
        async with oauth_client(cfg, settings) as client:
            return dict(await client.refresh_token(cfg.token_url, refresh_token=refresh_token))
    except OAuthError:
        raise
    except OutboundRefused:
        raise
    except httpx.HTTPStatusError as exc:
        raise RetryableError(f"{cfg.flow.title} token endpoint returned HTTP {exc.response.status_code}") from None
    except httpx.HTTPError as exc:
        raise RetryableError(f"{cfg.flow.title} token refresh failed: {type(exc).__name__}") from None


async def oauth_request(ctx: ActionContext, conn: ConnectionData, method: str, url: str, *, what: str,
                        timeout: float = 30.0, **kwargs: Any) -> httpx.Response:
    """One API call with the connection's token; a 401 refreshes the token and retries once.

    Transport failures become Retryable/Permanent errors like every provider call; the caller
    classifies the HTTP answer (``engine.actions._provider.raise_for_status``).
    """
    cfg = _config_for(conn.type)
    token = await access_token(ctx, conn)
    response = await _send(cfg, ctx.settings, token, method, url, what=what, timeout=timeout, **kwargs)
    if response.status_code != 401:
        return response
    token = await refresh(ctx.settings, conn, stale=token)
    response = await _send(cfg, ctx.settings, token, method, url, what=what, timeout=timeout, **kwargs)
    if response.status_code == 401:
        raise PermanentError(f"{what}: {cfg.flow.title} refused the connection's refreshed token (HTTP 401); "
                             "check the app's scopes or reconnect")
    return response


async def _send(cfg: ClientConfig, settings: Settings, token: str, method: str, url: str, *, what: str,
                timeout: float, **kwargs: Any) -> httpx.Response:
    started = time.perf_counter()
    try:
        async with oauth_client(cfg, settings, timeout=timeout,
                                token={"access_token": token, "token_type": "Bearer"}) as client:
            return await client.request(method, url, **kwargs)
    except OutboundRefused as exc:
        raise OutboundRefused(f"{what}: {exc}") from None
    except httpx.TimeoutException:
        raise RetryableError(f"{what} timed out after {time.perf_counter() - started:.0f}s") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise PermanentError(f"{what}: invalid URL ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise RetryableError(f"{what} failed: {type(exc).__name__}") from None
