"""Queue and deliver system mail (the one write path for the SystemMail outbox table).

:func:`queue_mail` adds a row in the caller's transaction and enqueues it only after that
transaction commits, so the background job always finds the row and a rolled-back invitation
never sends a mail. Bodies are encrypted at rest (they carry single-use links) and erased once
delivered; the row keeps who, what kind, when and where it went.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import event
from sqlmodel import Session, select

from engine.config import get_settings
from engine.crypto import SecretDecryptError, decrypt_json, encrypt_json
from engine.db import session_scope, utcnow
from engine.errors import PermanentError, RetryableError
from engine.mail.message import build_message
from engine.mail.templates import Rendered
from engine.mail.transport import deliver
from engine.models import SystemMail
from engine.queue import enqueue_mail

log = structlog.get_logger("flowmate.mail")
MAX_ATTEMPTS = 6
_PENDING_KEY = "flowmate_mail_pending"


def retry_delay_s(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1``: 5 s, 15 s, 45 s, ... capped at 10 minutes."""
    return float(min(600, 5 * 3 ** (attempt - 1)))


def queue_mail(session: Session, *, to: str, kind: str, rendered: Rendered, workspace_id: str | None = None,
               workspace_name: str | None = None) -> SystemMail:
    """Add a mail to the outbox; it is sent in the background after ``session`` commits.

    The subject gets the workspace name as a prefix when the mail is about a workspace.
    """
    subject = rendered.subject
    if workspace_name and workspace_name not in subject:
        subject = f"[{workspace_name}] {subject}"
    mail = SystemMail(workspace_id=workspace_id, kind=kind, to_email=to, subject=subject[:300],
                      body_encrypted=encrypt_json({"text": rendered.text, "html": rendered.html}))
    session.add(mail)
    session.flush()
    pending: list[str] = session.info.setdefault(_PENDING_KEY, [])
    if not pending:
        event.listen(session, "after_commit", _enqueue_pending, once=True)
        event.listen(session, "after_rollback", _forget_pending, once=True)
    pending.append(mail.id)
    return mail


def _enqueue_pending(session: Session) -> None:
    for mail_id in session.info.pop(_PENDING_KEY, []):
        enqueue_mail(mail_id)


def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def deliver_queued(mail_id: str) -> float | None:
    """Job body: send one queued mail. Returns seconds until a retry, or None when done."""
    settings = get_settings()
    with session_scope() as session:
        mail = session.get(SystemMail, mail_id)
        if mail is None or mail.status != "queued":
            return None  # already sent (a duplicate message) or given up
        mail.attempts += 1
        try:
            body = decrypt_json(mail.body_encrypted)
        except SecretDecryptError as exc:  # the key changed without keeping the old one: cannot send
            mail.status, mail.last_error, mail.body_encrypted = "failed", str(exc), ""
            session.add(mail)
            log.error("mail.undecryptable", mail_id=mail.id, kind=mail.kind)
            return None
        msg = build_message(sender=settings.mail_from, to=mail.to_email, subject=mail.subject,
                            text=body["text"], html=body["html"], mail_id=mail.id)
        try:
            where = deliver(settings, msg, mail.id)
        except (RetryableError, PermanentError) as exc:
            mail.last_error = str(exc)[:2000]
            final = isinstance(exc, PermanentError) or mail.attempts >= MAX_ATTEMPTS
            if final:
                mail.status, mail.body_encrypted = "failed", ""
            session.add(mail)
            log.warning("mail.failed" if final else "mail.retry", mail_id=mail.id, kind=mail.kind,
                        attempt=mail.attempts, error=mail.last_error)
            return None if final else retry_delay_s(mail.attempts)
        mail.status, mail.sent_at, mail.delivered_to = "sent", utcnow(), where[:500]
        mail.body_encrypted, mail.last_error = "", None
        session.add(mail)
    return None


def mail_public(mail: SystemMail) -> dict[str, Any]:
    return {"id": mail.id, "kind": mail.kind, "to": mail.to_email, "subject": mail.subject, "status": mail.status,
            "attempts": mail.attempts, "last_error": mail.last_error, "delivered_to": mail.delivered_to,
            "created_at": mail.created_at.isoformat(), "sent_at": mail.sent_at.isoformat() if mail.sent_at else None}


def requeue_waiting(session: Session) -> int:
    """Enqueue every still-queued mail again (after a broker outage lost messages); returns how many."""
    ids = list(session.exec(select(SystemMail.id).where(SystemMail.status == "queued")).all())
    for mail_id in ids:
        enqueue_mail(mail_id)
    return len(ids)
