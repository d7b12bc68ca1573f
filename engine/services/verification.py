"""Email verification for password sign-ups.

A new password account is usable at once, but unverified: it cannot accept an invitation to
another workspace (the invitation proves the inviter knows an address, not that this account
owns it). Clicking the emailed link (single use, 48 hours) sets ``User.email_verified_at``.
Accounts created from an invitation link, a password reset link or a provider that says the
email is verified count as verified: each of those proves the person reads that mailbox.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from engine.config import get_settings
from engine.crypto import hash_token, new_token
from engine.db import as_aware, utcnow
from engine.errors import ValidationFailed
from engine.mail import templates
from engine.models import AccountToken, User
from engine.services import audit, system_mail
from engine.services.account_actor import account_actor

VERIFY_LIFETIME = timedelta(hours=48)
PURPOSE = "verify"


def is_verified(user: User) -> bool:
    return user.email_verified_at is not None


def mark_verified(session: Session, user: User, how: str) -> None:
    """Record that ``user`` proved they read their mailbox (no-op when already verified)."""
    if user.email_verified_at is not None:
        return
    user.email_verified_at = utcnow()
    session.add(user)
    audit.record(session, account_actor(user), "user.email_verified", "user", user.id, {"how": how})


def send_verification(session: Session, user: User, workspace_name: str | None = None) -> str | None:
    """Queue a verification mail (earlier unused links stop working); returns the link, None if verified."""
    if is_verified(user):
        return None
    now = utcnow()
    for old in session.exec(select(AccountToken).where(AccountToken.user_id == user.id,
                                                       AccountToken.purpose == PURPOSE,
                                                       AccountToken.used_at.is_(None))).all():
        old.used_at = now
        session.add(old)
    clear = new_token("fmv_")
    session.add(AccountToken(user_id=user.id, purpose=PURPOSE, token_hash=hash_token(clear), email=user.email,
                             expires_at=now + VERIFY_LIFETIME))
    link = f"{get_settings().base_url.rstrip('/')}/verify/{clear}"
    system_mail.queue_mail(session, to=user.email, kind="verification",
                           rendered=templates.verification(link=link, workspace=workspace_name))
    audit.record(session, account_actor(user), "user.verification_sent", "user", user.id, {})
    return link


def verify_email(session: Session, token: str) -> User:
    """Use a verification link. A used, expired or unknown link answers one field error."""
    row = session.exec(select(AccountToken).where(AccountToken.token_hash == hash_token(token or ""),
                                                  AccountToken.purpose == PURPOSE)).first()
    invalid = ValidationFailed("this confirmation link is not valid any more",
                               {"token": "it was already used, has expired, or a newer one was sent"})
    if row is None or row.used_at is not None or as_aware(row.expires_at) <= utcnow():
        raise invalid
    user = session.get(User, row.user_id)
    if user is None or user.email != row.email:
        raise invalid  # the address changed since the link was sent
    row.used_at = utcnow()
    session.add(row)
    mark_verified(session, user, "link")
    return user
