"""Password reset by email: a single-use link valid for one hour.

:func:`request_reset` answers the same way, and takes the same time, whether or not an account
uses the address: the work that differs (creating the token, queuing the mail) is small and
the call is padded to a fixed floor, so neither the answer nor its timing tells an attacker
which addresses have accounts. The mail itself is sent in the background.

:func:`reset_password` sets the new password, ends every session of the account (a thief who
was signed in is thrown out), clears a lockout and marks the address verified.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlmodel import Session, select

from engine.config import get_settings
from engine.crypto import hash_token, new_token
from engine.db import as_aware, session_scope, utcnow
from engine.errors import ValidationFailed
from engine.mail import templates
from engine.models import AccountToken, User, UserSession
from engine.services import audit, system_mail
from engine.services.account_actor import account_actor
from engine.services.accounts import hash_password, normalise_email
from engine.services.verification import mark_verified

RESET_LIFETIME = timedelta(hours=1)
PURPOSE = "reset"
#: Every request_reset call takes at least this long (seconds), found or not.
RESPONSE_FLOOR_S = 1.0  # well above the work of either path, so the floor is what an attacker times
ANSWER = "If an account uses this address, we have sent it a link to choose a new password."


def request_reset(email: str) -> str:
    """Queue a reset mail when an account uses ``email``; returns the same sentence either way.

    Runs its own transaction and pads the call *after* committing, so the padding never holds
    a database lock.
    """
    started = time.monotonic()
    with session_scope() as session:
        _queue_reset(session, email)
    remaining = RESPONSE_FLOOR_S - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)
    return ANSWER


def _queue_reset(session: Session, email: str) -> None:
    try:
        address = normalise_email(email)
    except ValidationFailed:
        address = ""
    user = session.exec(select(User).where(User.email == address)).first() if address else None
    clear = new_token("fmr_")  # made either way, so both paths do the same work up to here
    if user is not None:
        now = utcnow()
        for old in session.exec(select(AccountToken).where(AccountToken.user_id == user.id,
                                                           AccountToken.purpose == PURPOSE,
                                                           AccountToken.used_at.is_(None))).all():
            old.used_at = now  # only the newest link works
            session.add(old)
        session.add(AccountToken(user_id=user.id, purpose=PURPOSE, token_hash=hash_token(clear), email=user.email,
                                 expires_at=now + RESET_LIFETIME))
        link = f"{get_settings().base_url.rstrip('/')}/reset/{clear}"
        system_mail.queue_mail(session, to=user.email, kind="password_reset",
                               rendered=templates.password_reset(link=link,
                                                                 minutes=int(RESET_LIFETIME.total_seconds() // 60)))
        audit.record(session, account_actor(user), "user.password_reset_requested", "user", user.id, {})


def _usable(session: Session, token: str) -> AccountToken:
    row = session.exec(select(AccountToken).where(AccountToken.token_hash == hash_token(token or ""),
                                                  AccountToken.purpose == PURPOSE)).first()
    if row is None or row.used_at is not None or as_aware(row.expires_at) <= utcnow():
        raise ValidationFailed("this reset link is not valid any more",
                               {"token": "it was already used, has expired, or a newer one was sent; "
                                         "ask for a new link"})
    return row


def check_token(session: Session, token: str) -> str:
    """The address a usable reset link belongs to (for the form); raises ValidationFailed otherwise."""
    return _usable(session, token).email


def reset_password(session: Session, token: str, new_password: str) -> User:
    """Use the link: set the password, end all sessions, clear lockout. Single use."""
    row = _usable(session, token)
    user = session.get(User, row.user_id)
    if user is None or user.email != row.email:
        raise ValidationFailed("this reset link is not valid any more", {"token": "ask for a new link"})
    user.password_hash = hash_password(new_password)
    user.failed_logins, user.locked_until = 0, None
    now = utcnow()
    row.used_at = now
    ended = 0
    for us in session.exec(select(UserSession).where(UserSession.user_id == user.id,
                                                     UserSession.revoked_at.is_(None))).all():
        us.revoked_at = now
        session.add(us)
        ended += 1
    session.add_all([user, row])
    mark_verified(session, user, "password_reset")
    audit.record(session, account_actor(user), "user.password_reset", "user", user.id, {"sessions_ended": ended})
    return user
