"""Workspaces, users, memberships and API tokens.

Passwords are hashed with argon2 (argon2-cffi); API tokens are random, shown once, and stored
as a SHA-256 hash so a database leak does not leak usable tokens.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, select

from engine.crypto import hash_token, new_token
from engine.db import as_aware, utcnow
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.models import ApiToken, Membership, Role, User, Workspace
from engine.services import audit
from engine.services.actor import Actor

_hasher = PasswordHasher()
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=5)
LAST_USED_GRANULARITY = timedelta(minutes=1)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    return slug or "workspace"


def _parse_role(role: str, field: str = "role") -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationFailed(
            f"unknown role {role!r}", {field: "must be one of owner, admin, editor, viewer"}
        ) from None


def normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed("invalid email address", {"email": str(exc)}) from None


def create_workspace(session: Session, name: str, slug: str | None = None, actor_label: str = "cli") -> Workspace:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("invalid workspace name", {"name": "must be 1-200 characters"})
    slug = slug or slugify(name)
    if not SLUG_RE.match(slug):
        raise ValidationFailed("invalid slug", {"slug": "lowercase letters, digits and dashes"})
    base, n = slug, 1
    while session.exec(select(Workspace.id).where(Workspace.slug == slug)).first():
        n += 1
        slug = f"{base}-{n}"
    ws = Workspace(name=name, slug=slug)
    session.add(ws)
    session.flush()
    audit.record(session, Actor.system(ws.id, actor_label), "workspace.create", "workspace", ws.id, {"name": name})
    return ws


def get_workspace_by_slug(session: Session, slug: str) -> Workspace:
    ws = session.exec(select(Workspace).where(Workspace.slug == slug)).first()
    if ws is None:
        raise NotFound(f"no workspace with slug {slug!r}")
    return ws


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValidationFailed("password too short", {"password": "use at least 8 characters"})
    return _hasher.hash(password)


def create_user(
    session: Session, email: str, password: str, workspace: Workspace | None, role: str = "owner",
    name: str = "", actor_label: str = "cli",
) -> User:
    email = normalise_email(email)
    if session.exec(select(User.id).where(User.email == email)).first():
        raise Conflict(f"a user with email {email} already exists")
    user = User(email=email, name=name.strip()[:200], password_hash=hash_password(password))
    session.add(user)
    session.flush()
    if workspace is not None:
        add_member(session, Actor.system(workspace.id, actor_label), user, _parse_role(role))
    return user


def add_member(session: Session, actor: Actor, user: User, role: Role) -> Membership:
    actor.require(Role.admin)
    if role == Role.owner and Role(actor.role) != Role.owner:
        raise Forbidden("only an owner can add another owner")
    existing = session.exec(
        select(Membership).where(Membership.user_id == user.id, Membership.workspace_id == actor.workspace_id)
    ).first()
    if existing:
        existing.role = role.value
        session.add(existing)
        membership = existing
    else:
        membership = Membership(user_id=user.id, workspace_id=actor.workspace_id, role=role.value)
        session.add(membership)
    audit.record(session, actor, "member.add", "user", user.id, {"email": user.email, "role": role.value})
    return membership


def authenticate(session: Session, email: str, password: str) -> User:
    """Check a password, with a lockout after repeated failures (slows down guessing)."""
    generic = Forbidden("invalid email or password")
    try:
        email = normalise_email(email)
    except ValidationFailed:
        raise generic from None
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None:
        _hasher.hash("timing-equaliser")  # same cost as a real check: no user enumeration by time
        raise generic
    now = utcnow()
    if user.locked_until and as_aware(user.locked_until) > now:
        raise Forbidden("too many failed attempts; try again in a few minutes")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        session.add(user)
        session.commit()
        raise generic from None
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    return user


def memberships_of(session: Session, user_id: str) -> list[tuple[Workspace, str]]:
    rows = session.exec(
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id)
        .order_by(Workspace.name)
    ).all()
    return [(ws, role) for ws, role in rows]


def actor_for_user(session: Session, user: User, workspace_id: str) -> Actor:
    m = session.exec(
        select(Membership).where(Membership.user_id == user.id, Membership.workspace_id == workspace_id)
    ).first()
    if m is None:
        raise NotFound("workspace not found")
    return Actor(workspace_id=workspace_id, role=Role(m.role), label=f"user:{user.email}", user_id=user.id)


# --- API tokens ---------------------------------------------------------------------------


def create_token(session: Session, actor: Actor, role: str = "editor", name: str = "",
                 expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """Create a token; the clear value is returned once and never stored."""
    actor.require(Role.admin)
    parsed = _parse_role(role)
    if parsed.rank > Role(actor.role).rank:
        raise Forbidden("a token cannot have a higher role than its creator")
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise ValidationFailed("invalid expiry", {"expires_in_days": "must be from 1 to 3650 days, or none"})
    clear = new_token("fm_")
    token = ApiToken(
        workspace_id=actor.workspace_id, name=name[:200], role=parsed.value,
        token_hash=hash_token(clear), prefix=clear[:10], created_by=actor.label,
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(token)
    session.flush()
    audit.record(session, actor, "token.create", "token", token.id, {"name": name, "role": parsed.value})
    return token, clear


def resolve_token(session: Session, clear: str) -> Actor | None:
    """The actor for a bearer token, or None when it is unknown or revoked."""
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(clear))).first()
    if token is None or token.revoked_at is not None:
        return None
    now = utcnow()
    if token.expires_at is not None and as_aware(token.expires_at) <= now:
        return None
    if token.last_used_at is None or now - as_aware(token.last_used_at) > LAST_USED_GRANULARITY:
        token.last_used_at = now  # at most one write a minute per token, not one per request
        session.add(token)
    return Actor(workspace_id=token.workspace_id, role=Role(token.role), label=f"token:{token.prefix}",
                 token_id=token.id)


def list_tokens(session: Session, actor: Actor) -> list[dict[str, Any]]:
    actor.require(Role.admin)
    rows = session.exec(
        select(ApiToken).where(ApiToken.workspace_id == actor.workspace_id).order_by(ApiToken.created_at.desc())
    ).all()
    return [token_public(t) for t in rows]


def token_public(t: ApiToken) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return as_aware(value).isoformat() if value else None

    return {"id": t.id, "name": t.name, "role": t.role, "prefix": t.prefix,
            "created_at": t.created_at.isoformat(), "revoked": t.revoked_at is not None,
            "created_by": t.created_by, "last_used_at": iso(t.last_used_at), "expires_at": iso(t.expires_at)}


def revoke_token(session: Session, actor: Actor, token_id: str) -> None:
    actor.require(Role.admin)
    token = session.exec(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.workspace_id == actor.workspace_id)
    ).first()
    if token is None:
        raise NotFound("token not found")
    token.revoked_at = utcnow()
    session.add(token)
    audit.record(session, actor, "token.revoke", "token", token.id, {})
