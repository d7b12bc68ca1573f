"""Deleting a workspace or an account (GDPR Art. 17, APP 11.2).

Workspace (owner, who types its name to confirm): one short transaction first cancels its
in-flight runs, revokes its API tokens and removes its triggers, so its webhook URLs answer 404
and its tokens 401 at once; after the webhook lookup memo has expired everywhere, every row it
owns is removed in bounded batches (runs and step runs, workflows, connections, usage, tokens,
exports, audit rows, memberships); one tombstone audit row outside the workspace says who
deleted it, when, and how many rows went.

Account (password re-entered): refused while the person is the only owner of a workspace (they
must transfer ownership, or delete it when they are its only member); otherwise memberships,
sessions and own exports go, and their email and name in audit rows become a stable pseudonym
``deleted-user-<hash>`` so the trail survives without the personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlmodel import Session
from sqlmodel import select as sm_select

from engine import passwords
from engine.config import get_settings
from engine.crypto import hash_token, new_token
from engine.db import as_aware, get_engine, session_scope, utcnow
from engine.errors import Forbidden, NotFound, ValidationFailed
from engine.mail import templates
from engine.models import (
    AccountToken,
    ApiToken,
    AuditLog,
    Connection,
    ExportJob,
    Membership,
    Role,
    Run,
    Step,
    Trigger,
    Usage,
    User,
    UserIdentity,
    UserSession,
    Workflow,
    Workspace,
)
from engine.services import audit, hook_cache, mfa, system_mail
from engine.services.actor import Actor
from engine.services.batch_delete import delete_in_batches, delete_runs_in_batches

log = structlog.get_logger("flowmate.deletion")

IN_FLIGHT = ("queued", "running", "waiting")


# ------------------------------------------------------------------ workspace


def delete_workspace(actor: Actor, confirm_name: str) -> dict[str, Any]:
    """Delete the actor's workspace and everything it owns; returns the counts (owner only)."""
    actor.require(Role.owner)
    engine = get_engine()
    batch = get_settings().retention_batch_rows
    with session_scope() as session:
        ws = session.get(Workspace, actor.workspace_id)
        if ws is None:
            raise NotFound("workspace not found")
        if (confirm_name or "").strip() != ws.name:
            raise ValidationFailed("the name does not match", {"confirm_name": f"type {ws.name!r} to confirm"})
        facts = {"id": ws.id, "name": ws.name, "slug": ws.slug}
        now = utcnow()
        cancelled = session.exec(update(Run).where(Run.workspace_id == ws.id, Run.status.in_(IN_FLIGHT))  # type: ignore[call-overload]
                                 .values(status="cancelled", finished_at=now, lease_owner=None,
                                         error="cancelled: the workspace was deleted")).rowcount
        revoked = session.exec(update(ApiToken).where(ApiToken.workspace_id == ws.id,  # type: ignore[call-overload]
                                                      ApiToken.revoked_at.is_(None)).values(revoked_at=now)).rowcount
        session.exec(update(Workflow).where(Workflow.workspace_id == ws.id).values(enabled=False))  # type: ignore[call-overload]
        triggers = session.exec(sm_select(Trigger).where(Trigger.workspace_id == ws.id)).all()
        for trigger in triggers:
            session.delete(trigger)
    hook_cache.forget()
    # Other processes memoise webhook lookups for TTL_SECONDS: once that has passed, no intake can
    # still create a run for this workspace, so the batches below leave nothing behind.
    time.sleep(hook_cache.TTL_SECONDS + 0.1)

    counts: dict[str, int] = {"runs_cancelled": cancelled or 0, "tokens_revoked": revoked or 0,
                              "triggers": len(triggers)}
    counts.update(delete_runs_in_batches(engine, Run.__table__.c.workspace_id == ws.id, batch))
    wf_ids = select(Workflow.__table__.c.id).where(Workflow.__table__.c.workspace_id == ws.id)
    counts["steps"] = delete_in_batches(engine, Step.__table__, Step.__table__.c.workflow_id.in_(wf_ids), batch)
    counts["workflows"] = delete_in_batches(engine, Workflow.__table__, Workflow.__table__.c.workspace_id == ws.id,
                                            batch)
    for name, model in (("connections", Connection), ("usage", Usage), ("tokens", ApiToken),
                        ("audit_rows", AuditLog)):
        table = model.__table__
        counts[name] = delete_in_batches(engine, table, table.c.workspace_id == ws.id, batch)
    counts["exports"] = _delete_exports(ExportJob.workspace_id == ws.id)
    with session_scope() as session:
        for us in session.exec(sm_select(UserSession).where(UserSession.workspace_id == ws.id)).all():
            other = session.exec(sm_select(Membership.workspace_id).where(
                Membership.user_id == us.user_id, Membership.workspace_id != ws.id)).first()
            us.workspace_id = other
            session.add(us)
        members = session.exec(sm_select(Membership).where(Membership.workspace_id == ws.id)).all()
        counts["memberships"] = len(members)
        for m in members:
            session.delete(m)
        session.flush()
        ws_row = session.get(Workspace, ws.id)
        if ws_row is not None:
            session.delete(ws_row)
        tombstone = Actor(workspace_id=None, role=actor.role, label=actor.label,  # type: ignore[arg-type]
                          user_id=actor.user_id)
        audit.record(session, tombstone, "workspace.delete", "workspace", facts["id"],
                     {"name": facts["name"], "slug": facts["slug"], "deleted": counts})
    log.info("workspace.deleted", workspace_id=facts["id"], **counts)
    return counts


def _delete_exports(where: Any, session: Session | None = None) -> int:
    """Delete export jobs and their stored files (in ``session`` when given: one transaction)."""
    if session is None:
        with session_scope() as own:
            return _delete_exports(where, own)
    from engine.storage import export_storage

    jobs = session.exec(sm_select(ExportJob).where(where)).all()
    store = export_storage() if any(j.storage_key for j in jobs) else None
    for job in jobs:
        if job.storage_key and store is not None:
            try:
                store.delete(job.storage_key)
            except Exception:
                log.exception("export.delete_failed", export_id=job.id)
        session.delete(job)
    return len(jobs)


# ------------------------------------------------------------------ account


def account_blockers(session: Session, user_id: str) -> list[dict[str, str]]:
    """Workspaces in which the user is the only owner, with what they must do first."""
    rows = session.exec(sm_select(Workspace).join(Membership, Membership.workspace_id == Workspace.id)
                        .where(Membership.user_id == user_id, Membership.role == Role.owner.value)).all()
    blockers = []
    for ws in rows:
        owners = session.exec(sm_select(func.count()).select_from(Membership).where(
            Membership.workspace_id == ws.id, Membership.role == Role.owner.value)).one()
        if owners > 1:
            continue
        members = session.exec(sm_select(func.count()).select_from(Membership).where(
            Membership.workspace_id == ws.id)).one()
        if members > 1:
            blockers.append({"workspace_id": ws.id, "workspace": ws.name, "action": "transfer",
                             "message": f"You are the only owner of {ws.name}: make another member owner "
                                        "(Members page), then delete your account."})
        else:
            blockers.append({"workspace_id": ws.id, "workspace": ws.name, "action": "delete",
                             "message": f"You are the only member of {ws.name}: delete the workspace "
                                        "(Settings → Data), then delete your account."})
    return blockers


def pseudonym_for(user_id: str) -> str:
    """A stable pseudonym: the same user always maps to the same name, nobody can reverse it."""
    key = get_settings().secret_key.get_secret_value().encode()
    return "deleted-user-" + hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:12]


DELETE_LINK_LIFETIME = timedelta(minutes=30)
DELETE_PURPOSE = "delete"


def send_delete_link(session: Session, user_id: str) -> str:
    """Re-authentication for an account without a password (single sign-on only): mail a
    single-use, 30-minute link that confirms the deletion. Returns the address it went to.

    Opening the link proves the person reads the account's mailbox, the same proof that signed
    them up; a password account confirms with its password instead.
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("account not found")
    if user.password_hash:
        raise ValidationFailed("this account has a password", {"password": "confirm with your password instead"})
    now = utcnow()
    for old in session.exec(sm_select(AccountToken).where(AccountToken.user_id == user.id,
                                                          AccountToken.purpose == DELETE_PURPOSE,
                                                          AccountToken.used_at.is_(None))).all():
        old.used_at = now  # only the newest link works
        session.add(old)
    clear = new_token("fmd_")
    session.add(AccountToken(user_id=user.id, purpose=DELETE_PURPOSE, token_hash=hash_token(clear),
                             email=user.email, expires_at=now + DELETE_LINK_LIFETIME))
    link = f"{get_settings().base_url.rstrip('/')}/account/delete/{clear}"
    system_mail.queue_mail(session, to=user.email, kind="account_deletion",
                           rendered=templates.account_deletion(
                               link=link, minutes=int(DELETE_LINK_LIFETIME.total_seconds() // 60)))
    audit.record_for_user(session, user, "account.delete_link_sent", {})
    return user.email


def delete_link_user(session: Session, token: str) -> User:
    """The account a usable deletion link belongs to; ValidationFailed for a used/expired/unknown one."""
    row = session.exec(sm_select(AccountToken).where(AccountToken.token_hash == hash_token(token or ""),
                                                     AccountToken.purpose == DELETE_PURPOSE)).first()
    user = session.get(User, row.user_id) if row is not None else None
    if row is None or row.used_at is not None or as_aware(row.expires_at) <= utcnow() or user is None \
            or user.email != row.email:
        raise ValidationFailed("this link is not valid any more",
                               {"token": "it was already used, has expired, or a newer one was sent"})
    return user


def delete_account_by_link(session: Session, token: str) -> dict[str, Any]:
    """Delete the account behind a deletion link (the link is the re-authentication)."""
    user = delete_link_user(session, token)
    for row in session.exec(sm_select(AccountToken).where(AccountToken.user_id == user.id)).all():
        session.delete(row)
    return _delete_user(session, user)


def delete_account(session: Session, user_id: str, password: str) -> dict[str, Any]:
    """Delete a user's account after re-checking their password; refuses a sole owner.

    An account without a password (single sign-on only) confirms through
    :func:`send_delete_link` and :func:`delete_account_by_link` instead.
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("account not found")
    if not user.password_hash:
        raise ValidationFailed("this account signs in with single sign-on",
                               {"password": "it has no password: use Account → Delete your account to get a "
                                            "link by email"})
    if not passwords.verify_password(user.password_hash, password or ""):
        raise ValidationFailed("the password is not correct", {"password": "enter your current password"}) from None
    for row in session.exec(sm_select(AccountToken).where(AccountToken.user_id == user.id)).all():
        session.delete(row)
    return _delete_user(session, user)


def _delete_user(session: Session, user: User) -> dict[str, Any]:
    user_id = user.id
    blockers = account_blockers(session, user_id)
    if blockers:
        raise Forbidden(" ".join(b["message"] for b in blockers))
    pseudonym = pseudonym_for(user.id)
    email, name = user.email, user.name
    memberships = session.exec(sm_select(Membership).where(Membership.user_id == user.id)).all()
    for m in memberships:
        audit.record(session, Actor(workspace_id=m.workspace_id, role=Role.viewer, label=f"user:{pseudonym}"),
                     "account.delete", "user", user.id, {"role": m.role})
        session.delete(m)
    for us in session.exec(sm_select(UserSession).where(UserSession.user_id == user.id)).all():
        session.delete(us)
    for identity in session.exec(sm_select(UserIdentity).where(UserIdentity.user_id == user.id)).all():
        session.delete(identity)
    mfa.forget_user(session, user.id)
    session.flush()
    exports = _delete_exports(ExportJob.requested_by_user_id == user.id, session)
    rows = audit.pseudonymise_actor(session, email, pseudonym, name=name)  # keeps the hash chain valid
    session.exec(update(ApiToken).where(ApiToken.created_by == f"user:{email}")  # type: ignore[call-overload]
                 .values(created_by=f"user:{pseudonym}"))
    session.delete(user)
    log.info("account.deleted", pseudonym=pseudonym, audit_rows=rows)
    return {"pseudonym": pseudonym, "memberships": len(memberships), "audit_rows_pseudonymised": rows,
            "exports_deleted": exports}


