"""Workspaces, users, memberships, password sign-in and sign-up, and API tokens.

Passwords are hashed with argon2 (engine.passwords); API tokens are random, shown once, and
stored as a SHA-256 hash so a database leak does not leak usable tokens.

Sign-in and sign-up answer without telling anyone which accounts exist: one message for "no
such user" and "wrong password" with the same argon2 cost, lockouts counted per email string
(engine.auth_limits), and a neutral refusal when a sign-up's email is taken.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, select

from engine import passwords
from engine.auth_limits import throttles
from engine.config import get_settings
from engine.crypto import hash_token, new_token
from engine.db import as_aware, utcnow
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.models import ApiToken, Membership, Role, User, Workspace
from engine.services import audit
from engine.services.actor import Actor

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SIGNUP_MODES = ("open", "invite", "closed")
INVALID_LOGIN = "Invalid email or password."
#: The one answer to a sign-up whose email is taken: it neither confirms nor denies an account.
SIGNUP_NEUTRAL = ("We could not create an account with these details. If you already have an account, "
                  "log in instead.")


class LoginLocked(Forbidden):
    """Too many failed attempts for this email from this client (or from this client at all).

    Raised for made-up addresses exactly as for real ones: it reveals nothing about accounts.
    """

    def __init__(self, retry_after: int, what: str = "failed attempts") -> None:
        minutes = max(1, -(-retry_after // 60))
        super().__init__(f"Too many {what}. Try again in {minutes} minute{'s' if minutes > 1 else ''}.")
        self.retry_after = retry_after


class SignupRefused(Forbidden):
    """Sign-up is not possible here (closed, by invitation only, throttled, or the neutral refusal)."""

    def __init__(self, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
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


def create_workspace(session: Session, name: str, slug: str | None = None, actor_label: str = "cli",
                     data_region: str | None = None) -> Workspace:
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
    from engine.services.residency import check_workspace_region, default_workspace_region

    region = check_workspace_region(data_region or default_workspace_region())  # only regions we serve
    ws = Workspace(name=name, slug=slug, data_region=region)
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
    if len(password) > 1024:
        raise ValidationFailed("password too long", {"password": "use at most 1024 characters"})
    return passwords.hash_password(password)


def create_user(
    session: Session, email: str, password: str, workspace: Workspace | None, role: str = "owner",
    name: str = "", actor_label: str = "cli",
) -> User:
    email = normalise_email(email)
    # Hash first: a taken email then costs as much as a new one (no enumeration by timing).
    password_hash = hash_password(password)
    if session.exec(select(User.id).where(User.email == email)).first():
        raise Conflict(f"a user with email {email} already exists")
    user = User(email=email, name=name.strip()[:200], password_hash=password_hash)
    session.add(user)
    session.flush()
    audit.record_as(session, workspace and workspace.id, actor_label, "user.create", "user", user.id, {"email": email})
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


def authenticate(session: Session, email: str, password: str, client: str = "local") -> User:
    """Check a password, refusing while this email (from this client) or this client is locked.

    Every refusal is :data:`INVALID_LOGIN` (Forbidden) or :class:`LoginLocked`, the same for a
    made-up address as for a real one, and an unknown address costs one argon2 check too.
    Run it on the password pool (``engine.passwords.run_bounded``), never on an event loop.
    """
    typed = (email or "").strip().lower()[:320]
    limits = throttles()
    wait = limits.login_attempt_wait(typed, client)
    if wait:
        raise LoginLocked(wait, "sign-in attempts")
    wait = limits.login_retry_after(typed, client)
    if wait:
        raise LoginLocked(wait)
    try:
        user = session.exec(select(User).where(User.email == normalise_email(email))).first()
    except ValidationFailed:
        user = None
    if user is None or not user.password_hash:
        passwords.burn_verify(password)
        ok = False
    else:
        ok = passwords.verify_password(user.password_hash, password)
    if not ok or user is None:
        limits.login_failed(typed, client)
        locked = bool(limits.login_retry_after(typed, client))
        audit.record_for_user(session, user, "auth.locked" if locked else "auth.login_failed",
                              {} if user is not None else {"reason": "unknown email"}, email=typed)
        session.commit()  # the refusal below rolls the caller's transaction back: keep the audit row
        raise Forbidden(INVALID_LOGIN)
    limits.login_succeeded(typed, client)
    return user


def sign_up(session: Session, email: str, password: str, *, name: str = "", workspace_name: str = "",
            client: str = "local", mode: str | None = None) -> tuple[User, Workspace]:
    """Self-service sign-up: a new user owning a new workspace (FLOWMATE_SIGNUP=open).

    ``invite`` refuses sign-ups without an invitation (invitations accept through their own
    flow), ``closed`` refuses all. Attempts are throttled per client. A taken email gets
    :data:`SIGNUP_NEUTRAL` after the same argon2 work as a new one.
    """
    mode = mode or get_settings().signup_mode
    if mode == "closed":
        raise SignupRefused("Sign-up is closed on this FlowMate. Ask an administrator for an account.")
    if mode == "invite":
        raise SignupRefused("Sign-up is by invitation only. Ask your workspace owner to invite you.")
    email = normalise_email(email or "")
    if not 8 <= len(password or "") <= 1024:
        hash_password(password or "")  # raises the field error
    wait = throttles().signup_attempt(client)
    if wait:
        raise SignupRefused("Too many sign-ups from your network. Try again later.", retry_after=wait)
    label = f"signup:{email[:200]}"
    workspace_name = (workspace_name or "").strip() or f"{name.strip() or email.split('@')[0]}'s workspace"
    try:
        ws = create_workspace(session, workspace_name[:200], actor_label=label)
        user = create_user(session, email, password, ws, role=Role.owner.value, name=name, actor_label=label)
    except Conflict:
        raise SignupRefused(SIGNUP_NEUTRAL) from None
    return user, ws


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
    """Admins revoke tokens up to their own role: an admin cannot revoke an owner's token."""
    actor.require(Role.admin)
    token = session.exec(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.workspace_id == actor.workspace_id)
    ).first()
    if token is None:
        raise NotFound("token not found")
    if Role(token.role).rank > Role(actor.role).rank:
        raise Forbidden(f"only an owner can revoke a token with the {token.role} role")
    token.revoked_at = utcnow()
    session.add(token)
    audit.record(session, actor, "token.revoke", "token", token.id, {})
