"""Browser sessions: the web app signs people in; the REST API accepts the same session cookie.

The cookie (``flowmate_session``, HttpOnly, written only by the /auth HTTP endpoints) carries a
random token; the table stores only its SHA-256, so reading the database never yields a usable
session. Sessions expire after 14 days. Every sign-in issues a new token and revokes the one
the browser held before (no session fixation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, select

from engine.crypto import hash_token, new_token
from engine.db import as_aware, utcnow
from engine.errors import NotFound
from engine.models import Membership, User, UserSession
from engine.services import audit, mfa
from engine.services.accounts import actor_for_user, authenticate, memberships_of
from engine.services.actor import Actor

COOKIE_NAME = "flowmate_session"
SESSION_LIFETIME = timedelta(days=14)


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    email: str
    name: str
    workspace_id: str | None


def start_session(session: Session, user: User, workspace_id: str | None = None,
                  replaces: str | None = None) -> str:
    """Create a session for ``user`` (first workspace by default); returns the cookie value once.

    ``replaces`` is the session token the browser sent along, if any: it is revoked, so a token
    planted before sign-in is worthless after it.
    """
    if replaces:
        log_out(session, replaces)
    if workspace_id is None:
        first = memberships_of(session, user.id)
        workspace_id = first[0][0].id if first else None
    clear = new_token("fms_")
    session.add(UserSession(user_id=user.id, workspace_id=workspace_id, token_hash=hash_token(clear),
                            expires_at=utcnow() + SESSION_LIFETIME))
    session.flush()
    audit.record_for_user(session, user, "auth.login", {"workspace_id": workspace_id})
    return clear


def log_in(session: Session, email: str, password: str, client: str = "local",
           replaces: str | None = None) -> str:
    """Check the password (with lockout per account and client) and start a fresh session.

    Runs argon2: call it on the password pool (``engine.passwords.run_bounded``).
    """
    user = authenticate(session, email, password, client=client)
    return start_session(session, user, replaces=replaces)


def resolve_session(session: Session, token: str | None) -> SignedIn | None:
    if not token:
        return None
    row = session.exec(
        select(UserSession, User).join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    us, user = row
    if us.revoked_at is not None or as_aware(us.expires_at) <= utcnow():
        return None
    return SignedIn(user_id=user.id, email=user.email, name=user.name, workspace_id=us.workspace_id)


def session_actor(session: Session, token: str | None) -> Actor | None:
    """The actor for a session cookie in its current workspace (None when signed out)."""
    signed = resolve_session(session, token)
    if signed is None or signed.workspace_id is None:
        return None
    user = session.get(User, signed.user_id)
    if mfa.blocked_in_workspace(session, signed.user_id, signed.workspace_id):
        return None  # the workspace requires MFA: no access until the next sign-in sets it up
    try:
        return actor_for_user(session, user, signed.workspace_id)
    except NotFound:
        return None


def switch_workspace(session: Session, token: str, workspace_id: str) -> None:
    """Point the session at another workspace the user belongs to (404 otherwise)."""
    us = session.exec(select(UserSession).where(UserSession.token_hash == hash_token(token))).first()
    if us is None:
        raise NotFound("session not found")
    member = session.exec(select(Membership).where(Membership.user_id == us.user_id,
                                                   Membership.workspace_id == workspace_id)).first()
    if member is None:
        raise NotFound("workspace not found")
    audit.record_session_switch(session, us.user_id, us.workspace_id, workspace_id)
    us.workspace_id = workspace_id
    session.add(us)


def log_out(session: Session, token: str) -> None:
    us = session.exec(select(UserSession).where(UserSession.token_hash == hash_token(token))).first()
    if us is not None and us.revoked_at is None:
        audit.record_for_user(session, session.get(User, us.user_id), "auth.logout")
        us.revoked_at = utcnow()
        session.add(us)
