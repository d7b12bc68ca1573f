"""Invitations: an owner or admin invites an email address into their workspace with a role.

The emailed link is single use, expires after 7 days and can be revoked; resending issues a new
link (the old one stops working). Only the SHA-256 of the link's token is stored. Nobody can
invite with a role above their own, so an admin cannot make an owner.

The invitee either signs up through the link (:func:`accept_for_signup`: the account is created
with the invited address, verified, since the link was read in that mailbox) or, with an
existing account, joins (:func:`accept`), which needs the signed-in account to be that address
and verified. :func:`signup_invitation` is the check a sign-up gate (FLOWMATE_SIGNUP=invite)
calls to let an invited person through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from engine.config import get_settings
from engine.crypto import hash_token, new_token
from engine.db import as_aware, utcnow
from engine.errors import Forbidden, NotFound, ValidationFailed
from engine.mail import templates
from engine.models import Invitation, Membership, Role, User, Workspace
from engine.services import audit, system_mail
from engine.services.accounts import add_member, create_user, normalise_email
from engine.services.actor import Actor
from engine.services.verification import is_verified, mark_verified

INVITE_LIFETIME = timedelta(days=7)


class InvitationInvalid(ValidationFailed):
    """The link cannot be used; ``reason`` is one of unknown, used, expired, revoked."""

    MESSAGES = {
        "unknown": "This invitation link is not valid. Check that you copied all of it, or ask for a new one.",
        "used": "This invitation has already been used. Log in, or ask for a new invitation.",
        "expired": "This invitation has expired. Ask the person who invited you to send a new one.",
        "revoked": "This invitation was withdrawn. Ask the workspace's admins if you still need access.",
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGES[reason], {"token": reason})
        self.reason = reason


@dataclass(frozen=True)
class InvitationView:
    """What the invitation page shows about a valid link."""

    id: str
    workspace_id: str
    workspace_name: str
    email: str
    role: str
    invited_by: str
    expires_at: datetime
    account_exists: bool


def _link(clear: str) -> str:
    return f"{get_settings().base_url.rstrip('/')}/invite/{clear}"


def _parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationFailed("unknown role", {"role": "must be one of owner, admin, editor, viewer"}) from None


def _pending(inv: Invitation, now: datetime) -> bool:
    return inv.accepted_at is None and inv.revoked_at is None and as_aware(inv.expires_at) > now


def _send(session: Session, inv: Invitation, ws: Workspace, inviter: str) -> str:
    """Give ``inv`` a fresh token and expiry and queue the mail; returns the new link."""
    clear = new_token("fmi_")
    now = utcnow()
    inv.token_hash, inv.expires_at, inv.last_sent_at = hash_token(clear), now + INVITE_LIFETIME, now
    inv.sent_count += 1
    session.add(inv)
    session.flush()
    rendered = templates.invitation(workspace=ws.name, inviter=inviter, role=inv.role, link=_link(clear),
                                    expires=as_aware(inv.expires_at).strftime("%-d %b %Y"))
    system_mail.queue_mail(session, to=inv.email, kind="invitation", rendered=rendered, workspace_id=ws.id,
                           workspace_name=ws.name)
    return _link(clear)


def _inviter_name(session: Session, actor: Actor) -> str:
    """How the mail names the inviter: their name, else their address (or the CLI label)."""
    user = session.get(User, actor.user_id) if actor.user_id else None
    return (user.name or user.email) if user else actor.label.split(":", 1)[-1]


def invite(session: Session, actor: Actor, email: str, role: str) -> tuple[Invitation, str]:
    """Invite ``email`` with ``role`` (admin or owner; never above the inviter's own role).

    Inviting an address that already has a pending invitation replaces it (new role, new link).
    Returns the invitation and the link (the link is also mailed; it is never stored).
    """
    actor.require(Role.admin)
    email = normalise_email(email)
    parsed = _parse_role(role)
    if parsed.rank > Role(actor.role).rank:
        raise Forbidden(f"you cannot invite someone as {parsed.value}: that is above your own role")
    ws = session.get(Workspace, actor.workspace_id)
    if ws is None:
        raise NotFound("workspace not found")
    member = session.exec(select(Membership).join(User, User.id == Membership.user_id)
                          .where(Membership.workspace_id == ws.id, User.email == email)).first()
    if member is not None:
        raise ValidationFailed("already a member", {"email": "is already in this workspace; change their role"})
    now = utcnow()
    inv = next((i for i in session.exec(select(Invitation).where(Invitation.workspace_id == ws.id,
                                                                 Invitation.email == email)).all()
                if _pending(i, now)), None)
    action = "invitation.update" if inv else "invitation.create"
    if inv is None:
        inv = Invitation(workspace_id=ws.id, email=email, role=parsed.value, token_hash="", invited_by=actor.label,
                         expires_at=now + INVITE_LIFETIME)
    inv.role, inv.invited_by = parsed.value, actor.label
    link = _send(session, inv, ws, _inviter_name(session, actor))
    audit.record(session, actor, action, "invitation", inv.id, {"email": email, "role": parsed.value})
    return inv, link


def invitee_unconfirmed(session: Session, email: str) -> bool:
    """True when an account uses ``email`` but has not confirmed it (it cannot join until it does)."""
    user = session.exec(select(User).where(User.email == email)).first()
    return user is not None and not is_verified(user)


def _get_pending(session: Session, actor: Actor, invitation_id: str) -> Invitation:
    inv = session.exec(select(Invitation).where(Invitation.id == invitation_id,
                                                Invitation.workspace_id == actor.workspace_id)).first()
    if inv is None:
        raise NotFound("invitation not found")
    if inv.accepted_at is not None:
        raise ValidationFailed("this invitation was already accepted", {"invitation": "accepted"})
    if inv.revoked_at is not None:
        raise ValidationFailed("this invitation was revoked", {"invitation": "revoked"})
    return inv


def resend(session: Session, actor: Actor, invitation_id: str) -> str:
    """Mail a new link (another 7 days); the previous link stops working. Expired ones can be resent."""
    actor.require(Role.admin)
    inv = _get_pending(session, actor, invitation_id)
    if Role(inv.role).rank > Role(actor.role).rank:
        raise Forbidden(f"you cannot resend an invitation as {inv.role}: that is above your own role")
    ws = session.get(Workspace, actor.workspace_id)
    link = _send(session, inv, ws, _inviter_name(session, actor))
    audit.record(session, actor, "invitation.resend", "invitation", inv.id, {"email": inv.email})
    return link


def revoke(session: Session, actor: Actor, invitation_id: str) -> None:
    actor.require(Role.admin)
    inv = _get_pending(session, actor, invitation_id)
    inv.revoked_at = utcnow()
    session.add(inv)
    audit.record(session, actor, "invitation.revoke", "invitation", inv.id, {"email": inv.email})


def list_invitations(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Invitations not yet accepted or revoked (expired ones included, marked), newest first."""
    actor.require(Role.admin)
    now = utcnow()
    rows = session.exec(select(Invitation).where(Invitation.workspace_id == actor.workspace_id,
                                                 Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
                        .order_by(Invitation.created_at.desc())).all()
    return [{"id": i.id, "email": i.email, "role": i.role, "invited_by": i.invited_by.split(":", 1)[-1],
             "created_at": as_aware(i.created_at).isoformat(), "expires_at": as_aware(i.expires_at).isoformat(),
             "last_sent_at": as_aware(i.last_sent_at).isoformat() if i.last_sent_at else None,
             "sent_count": i.sent_count, "expired": as_aware(i.expires_at) <= now} for i in rows]


def _by_token(session: Session, token: str) -> Invitation:
    inv = session.exec(select(Invitation).where(Invitation.token_hash == hash_token(token or ""))).first()
    if inv is None:
        raise InvitationInvalid("unknown")
    if inv.accepted_at is not None:
        raise InvitationInvalid("used")
    if inv.revoked_at is not None:
        raise InvitationInvalid("revoked")
    if as_aware(inv.expires_at) <= utcnow():
        raise InvitationInvalid("expired")
    return inv


def lookup(session: Session, token: str) -> InvitationView:
    """Describe a usable link (raises InvitationInvalid with the reason otherwise)."""
    inv = _by_token(session, token)
    ws = session.get(Workspace, inv.workspace_id)
    exists = session.exec(select(User.id).where(User.email == inv.email)).first() is not None
    return InvitationView(id=inv.id, workspace_id=inv.workspace_id, workspace_name=ws.name if ws else "",
                          email=inv.email, role=inv.role, invited_by=inv.invited_by.split(":", 1)[-1],
                          expires_at=as_aware(inv.expires_at), account_exists=exists)


def _join(session: Session, inv: Invitation, user: User) -> Membership:
    joiner = Actor.system(inv.workspace_id, f"user:{user.email}")
    membership = session.exec(select(Membership).where(Membership.user_id == user.id,
                                                       Membership.workspace_id == inv.workspace_id)).first()
    if membership is None:
        membership = add_member(session, joiner, user, Role(inv.role))
    inv.accepted_at, inv.accepted_by = utcnow(), user.id
    session.add(inv)
    audit.record(session, joiner, "invitation.accept", "invitation", inv.id,
                 {"email": inv.email, "role": inv.role, "invited_by": inv.invited_by})
    return membership


def accept(session: Session, token: str, user: User) -> Membership:
    """An existing, signed-in account joins through the link (its address, verified)."""
    inv = _by_token(session, token)
    if user.email != inv.email:
        raise Forbidden(f"this invitation is for {inv.email}; you are signed in as {user.email}")
    if not is_verified(user):
        raise Forbidden("confirm your email address first: use the link we mailed you, then open the "
                        "invitation again")
    return _join(session, inv, user)


def signup_invitation(session: Session, token: str | None) -> InvitationView | None:
    """For a sign-up gate: the valid invitation behind ``token``, or None (no or unusable token)."""
    if not token:
        return None
    try:
        return lookup(session, token)
    except InvitationInvalid:
        return None


def accept_for_signup(session: Session, token: str, *, password: str, name: str = "") -> User:
    """Create the invited person's account (verified) and add them with the invited role."""
    inv = _by_token(session, token)
    if session.exec(select(User.id).where(User.email == inv.email)).first():
        raise ValidationFailed("an account with this email already exists",
                               {"email": "log in with it, then open the invitation link again"})
    user = create_user(session, inv.email, password, None, name=name, actor_label=f"invitation:{inv.id}")
    mark_verified(session, user, "invitation")
    _join(session, inv, user)
    return user
