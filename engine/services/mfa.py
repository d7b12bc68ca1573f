"""Multi-factor authentication: TOTP (RFC 6238) with single-use recovery codes.

Why it is built this way:

- The TOTP secret is encrypted at rest with the server key (engine.crypto, MultiFernet), so a
  database dump alone cannot mint codes. It is decrypted only to check a code.
- A code is accepted for the current 30-second step and one step either side (clock drift), and
  the accepted step is stored: a code, once used, is refused for the rest of its window, so a
  shoulder-surfed or phished code cannot be replayed. The step moves forward with one
  conditional UPDATE, so two requests racing with the same code cannot both pass.
- Ten recovery codes are made at set-up and shown once. They are stored as an HMAC keyed with
  the server key (every configured key is tried, so a key rotation keeps them working): they
  carry 50 random bits each, so a fast keyed hash is enough and checking one costs nothing.
- Wrong codes at sign-in count toward the same lockout as wrong passwords (engine.auth_limits:
  per account from this client, per account, per client), so the second factor cannot be
  guessed any faster than the first.
- An owner can require MFA for a workspace: members without it are asked to set it up at their
  next sign-in, and an existing session cannot act in that workspace until they have.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlalchemy import or_, update
from sqlmodel import Session, select

from engine import passwords
from engine.auth_limits import throttles
from engine.crypto import decrypt_json, encrypt_json, key_strings
from engine.db import utcnow
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.models import Membership, MfaRecoveryCode, Role, User, UserMfa, Workspace, WorkspaceAuthPolicy
from engine.services import audit
from engine.services.accounts import LoginLocked
from engine.services.actor import Actor

ISSUER = "FlowMate"
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud and typed from paper
VALID_WINDOW = 1  # steps either side of now
INVALID_CODE = "That code is not correct. Use the 6-digit code your authenticator app shows now, or a recovery code."


class MfaCodeInvalid(ValidationFailed):
    """A wrong, reused or malformed code (one answer for all: it tells a guesser nothing)."""

    def __init__(self) -> None:
        super().__init__(INVALID_CODE, {"code": "not correct, already used, or expired"})


@dataclass(frozen=True)
class Setup:
    """What the set-up page shows: the key to type, the otpauth URI and its QR code."""

    secret: str
    uri: str
    qr_data_uri: str


# ------------------------------------------------------------------------------- reading


def _row(session: Session, user_id: str) -> UserMfa | None:
    return session.get(UserMfa, user_id)


def is_enabled(session: Session, user_id: str) -> bool:
    row = _row(session, user_id)
    return row is not None and row.enabled_at is not None


def requiring_workspaces(session: Session, user_id: str) -> list[str]:
    """Names of the user's workspaces whose owner requires MFA."""
    rows = session.exec(
        select(Workspace.name).join(Membership, Membership.workspace_id == Workspace.id)
        .join(WorkspaceAuthPolicy, WorkspaceAuthPolicy.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id, WorkspaceAuthPolicy.require_mfa.is_(True))
        .order_by(Workspace.name)
    ).all()
    return list(rows)


def workspace_requires(session: Session, workspace_id: str | None) -> bool:
    if not workspace_id:
        return False
    policy = session.get(WorkspaceAuthPolicy, workspace_id)
    return bool(policy and policy.require_mfa)


def blocked_in_workspace(session: Session, user_id: str, workspace_id: str | None) -> bool:
    """True when this workspace requires MFA and the user has not set it up (no access yet)."""
    return workspace_requires(session, workspace_id) and not is_enabled(session, user_id)


def login_step(session: Session, user: User) -> str:
    """What sign-in needs after the first factor: ``"none"``, ``"verify"`` a code, or ``"setup"``."""
    if is_enabled(session, user.id):
        return "verify"
    return "setup" if requiring_workspaces(session, user.id) else "none"


def status(session: Session, user_id: str) -> dict[str, object]:
    row = _row(session, user_id)
    left = 0
    if row is not None and row.enabled_at is not None:
        left = len(session.exec(select(MfaRecoveryCode.id).where(MfaRecoveryCode.user_id == user_id,
                                                                 MfaRecoveryCode.used_at.is_(None))).all())
    return {"enabled": bool(row and row.enabled_at), "enabled_at": row.enabled_at if row else None,
            "recovery_codes_left": left, "required_by": requiring_workspaces(session, user_id)}


# ------------------------------------------------------------------------------- codes


def _secret(row: UserMfa) -> str:
    return str(decrypt_json(row.secret_encrypted)["secret"])


def _normalise(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _recovery_hashes(code: str) -> list[str]:
    """The keyed hash of a recovery code under every configured key (primary first)."""
    clean = _normalise(code).encode()
    return [hmac.new(hashlib.sha256(b"flowmate-mfa-recovery|" + key.encode()).digest(), clean,
                     hashlib.sha256).hexdigest() for key in key_strings()]


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret)
    digits = _normalise(code)
    if len(digits) != totp.digits or not digits.isdigit():
        return None
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def _take_step(session: Session, user_id: str, step: int) -> bool:
    """Move ``last_step`` forward to ``step``; False when this or a later step was already used."""
    result = session.exec(  # type: ignore[call-overload]
        update(UserMfa).where(UserMfa.user_id == user_id,
                              or_(UserMfa.last_step.is_(None), UserMfa.last_step < step))
        .values(last_step=step, last_used_at=utcnow())
    )
    session.expire_all()
    return bool(result.rowcount)


def _check_totp(session: Session, row: UserMfa, code: str) -> bool:
    step = _matching_step(_secret(row), code, utcnow())
    return step is not None and _take_step(session, row.user_id, step)


def _use_recovery(session: Session, user: User, code: str) -> bool:
    hashes = _recovery_hashes(code)
    found = session.exec(select(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id,
                                                       MfaRecoveryCode.used_at.is_(None),
                                                       MfaRecoveryCode.code_hash.in_(hashes))).first()
    if found is None:
        return False
    taken = session.exec(update(MfaRecoveryCode).where(MfaRecoveryCode.id == found.id,  # type: ignore[call-overload]
                                                       MfaRecoveryCode.used_at.is_(None)).values(used_at=utcnow()))
    if not taken.rowcount:
        return False  # used by a concurrent request a moment ago
    left = len(session.exec(select(MfaRecoveryCode.id).where(MfaRecoveryCode.user_id == user.id,
                                                             MfaRecoveryCode.used_at.is_(None))).all())
    audit.record_for_user(session, user, "mfa.recovery_code_used", {"codes_left": left})
    return True


def check_code(session: Session, user: User, code: str, *, allow_recovery: bool = True) -> str:
    """Check a TOTP or recovery code for an enabled factor; returns ``"totp"`` or ``"recovery"``.

    Raises :class:`MfaCodeInvalid` for a wrong or replayed code (no throttling here: sign-in
    goes through :func:`verify_login`, which counts failures).
    """
    row = _row(session, user.id)
    if row is None or row.enabled_at is None:
        raise NotFound("two-factor authentication is not set up for this account")
    if _check_totp(session, row, code):
        return "totp"
    if allow_recovery and _use_recovery(session, user, code):
        return "recovery"
    raise MfaCodeInvalid()


def verify_login(session: Session, user: User, code: str, client: str) -> str:
    """The second step of sign-in: refuse while locked, count a wrong code as a failed sign-in.

    Failures are committed before raising (the caller's transaction rolls back), like
    :func:`engine.services.accounts.authenticate`.
    """
    limits = throttles()
    wait = limits.login_retry_after(user.email, client)
    if wait:
        raise LoginLocked(wait)
    try:
        how = check_code(session, user, code)
    except MfaCodeInvalid:
        session.rollback()
        limits.login_failed(user.email, client)
        locked = bool(limits.login_retry_after(user.email, client))
        audit.record_for_user(session, user, "auth.locked" if locked else "auth.mfa_failed", {})
        session.commit()
        raise
    limits.login_succeeded(user.email, client)
    return how


# ------------------------------------------------------------------------------- set-up


def begin_setup(session: Session, user: User) -> Setup:
    """A new secret waiting for its first code (the same one again while set-up is unfinished).

    Refused once MFA is on: replacing the secret then needs disabling first (with a code).
    """
    row = _row(session, user.id)
    if row is not None and row.enabled_at is not None:
        raise Conflict("two-factor authentication is already on for this account")
    if row is None:
        row = UserMfa(user_id=user.id, secret_encrypted=encrypt_json({"secret": pyotp.random_base32()}))
        session.add(row)
        session.flush()
        audit.record_for_user(session, user, "mfa.setup_started", {})
    secret = _secret(row)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#111827", light="#ffffff")
    return Setup(secret=secret, uri=uri, qr_data_uri=qr)


def _fresh_recovery_codes(session: Session, user_id: str) -> list[str]:
    for old in session.exec(select(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user_id)).all():
        session.delete(old)
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    for code in codes:
        session.add(MfaRecoveryCode(user_id=user_id, code_hash=_recovery_hashes(code)[0]))
    return codes


def confirm_setup(session: Session, user: User, code: str) -> list[str]:
    """Turn MFA on with the first correct code; returns the ten recovery codes (shown once)."""
    row = _row(session, user.id)
    if row is None:
        raise ValidationFailed("start the set-up first", {"code": "open the set-up again to get a new key"})
    if row.enabled_at is not None:
        raise Conflict("two-factor authentication is already on for this account")
    if not _check_totp(session, row, code):
        raise MfaCodeInvalid()
    row = _row(session, user.id)
    assert row is not None
    row.enabled_at = utcnow()
    session.add(row)
    codes = _fresh_recovery_codes(session, user.id)
    audit.record_for_user(session, user, "mfa.enable", {"recovery_codes": len(codes)})
    return codes


def regenerate_recovery_codes(session: Session, user: User, code: str) -> list[str]:
    """New recovery codes (the old ones stop working); needs a current authenticator code."""
    check_code(session, user, code, allow_recovery=False)
    codes = _fresh_recovery_codes(session, user.id)
    audit.record_for_user(session, user, "mfa.recovery_codes_regenerated", {"recovery_codes": len(codes)})
    return codes


def disable(session: Session, user: User, *, code: str = "", password: str = "") -> None:
    """Turn MFA off after a current code (or recovery code) or the account password.

    Refused while a workspace of the person requires MFA: they would be locked out of it.
    """
    row = _row(session, user.id)
    if row is None or row.enabled_at is None:
        raise NotFound("two-factor authentication is not on for this account")
    required = requiring_workspaces(session, user.id)
    if required:
        raise Forbidden(f"{', '.join(required)} requires two-factor authentication: it cannot be turned off "
                        "while you are a member.")
    if code.strip():
        check_code(session, user, code)
        how = "code"
    elif password and user.password_hash and passwords.verify_password(user.password_hash, password):
        how = "password"
    else:
        raise ValidationFailed("confirm with a code or your password",
                               {"code": "enter a current code, a recovery code, or your password"})
    for old in session.exec(select(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id)).all():
        session.delete(old)
    session.delete(session.get(UserMfa, user.id))
    audit.record_for_user(session, user, "mfa.disable", {"confirmed_with": how})


def cancel_setup(session: Session, user: User) -> None:
    """Forget an unfinished set-up (its secret was never confirmed, so it protects nothing yet)."""
    row = _row(session, user.id)
    if row is not None and row.enabled_at is None:
        session.delete(row)
        audit.record_for_user(session, user, "mfa.setup_cancelled", {})


# ------------------------------------------------------------------------------- workspace rule


def set_workspace_requirement(session: Session, actor: Actor, required: bool) -> WorkspaceAuthPolicy:
    """Owners require (or stop requiring) MFA for every member of their workspace."""
    actor.require(Role.owner)
    policy = session.get(WorkspaceAuthPolicy, actor.workspace_id) or WorkspaceAuthPolicy(
        workspace_id=actor.workspace_id)
    if bool(policy.require_mfa) == bool(required):
        return policy
    if required and actor.user_id and not is_enabled(session, actor.user_id):
        raise ValidationFailed("turn on two-factor authentication for yourself first",
                               {"require_mfa": "set it up on your Account page, then require it here"})
    policy.require_mfa = bool(required)
    policy.updated_at = utcnow()
    session.add(policy)
    without = 0
    if required:
        members = session.exec(select(Membership.user_id).where(Membership.workspace_id == actor.workspace_id)).all()
        without = sum(1 for uid in members if not is_enabled(session, uid))
    audit.record(session, actor, "workspace.mfa_requirement", "workspace", actor.workspace_id,
                 {"required": bool(required), "members_without_mfa": without})
    return policy


def forget_user(session: Session, user_id: str) -> None:
    """Delete a user's factor and codes (account deletion calls it; it records the deletion)."""
    for old in session.exec(select(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user_id)).all():
        session.delete(old)
    row = session.get(UserMfa, user_id)
    if row is not None:
        session.delete(row)
