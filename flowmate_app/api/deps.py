"""Who is calling: an API token (``Authorization: Bearer``) or the web app's session cookie.

- no or unknown/revoked credentials → 401 (with ``WWW-Authenticate: Bearer``);
- a role too low → 403 (raised by the services' ``actor.require``);
- another workspace's object → 404, because every service query is scoped by the actor.
"""

from __future__ import annotations

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.auth_limits import throttles
from engine.config import get_settings
from engine.db import session_scope
from engine.services.accounts import resolve_token
from engine.services.actor import Actor
from engine.services.sessions import COOKIE_NAME, session_actor
from flowmate_app.api.cors import origin_allowed
from flowmate_app.api.errors import ApiError

#: Documents the scheme in OpenAPI; auto_error=False so we answer 401 in our own error shape.
bearer = HTTPBearer(auto_error=False, description="A workspace API token (`flowmate tokens create`)")

_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="flowmate"'}


def _resolve(authorization: str | None, cookie: str | None, unsafe: bool = False, origin: str | None = None) -> Actor:
    with session_scope() as session:
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise ApiError(401, "unauthorized", "use 'Authorization: Bearer <token>'", headers=_UNAUTHORIZED)
            actor = resolve_token(session, value.strip())
            if actor is None:
                raise ApiError(401, "unauthorized", "the API token is invalid or revoked", headers=_UNAUTHORIZED)
            return actor
        if cookie:
            if unsafe and not origin_allowed(origin):
                # A cookie rides along on cross-site requests; a token never does.
                raise ApiError(403, "forbidden", "cross-site request refused: this origin is not allowed")
            actor = session_actor(session, cookie)
            if actor is not None:
                return actor
            raise ApiError(401, "unauthorized", "your session has expired; sign in again", headers=_UNAUTHORIZED)
    raise ApiError(401, "unauthorized", "authentication required: send 'Authorization: Bearer <token>'",
                   headers=_UNAUTHORIZED)


def current_actor(request: Request, response: Response,
                  _creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Actor:
    """FastAPI dependency (sync: runs in the thread pool like the routes that use it).

    Every authenticated call counts against FLOWMATE_API_RATE_LIMIT for its token (or, with the
    session cookie, for its person): over it → 429 with Retry-After; every answer carries the
    RateLimit-Limit / -Remaining / -Reset headers.
    """
    actor = _resolve(request.headers.get("authorization"), request.cookies.get(COOKIE_NAME),
                     unsafe=request.method not in ("GET", "HEAD", "OPTIONS"), origin=request.headers.get("origin"))
    usage = throttles().api_call(f"token:{actor.token_id}" if actor.token_id else f"user:{actor.user_id}")
    if not usage.allowed:
        raise ApiError(429, "too_many_requests", f"rate limit of {usage.limit} requests reached for this "
                       f"token; retry in {usage.reset_s} s", headers=usage.headers())
    response.headers.update(usage.headers())
    return actor


def client_ip(request: Request) -> str:
    """The caller's IP for throttling: the socket peer, or the address the trusted proxies saw.

    X-Forwarded-For is only believed for FLOWMATE_TRUSTED_PROXY_HOPS proxies: the entry that
    many hops from the right is the one the outermost trusted proxy wrote.
    """
    peer = request.client.host if request.client else "unknown"
    hops = get_settings().trusted_proxy_hops
    if hops:
        forwarded = [p.strip() for p in request.headers.get("x-forwarded-for", "").split(",") if p.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return peer
