"""Tell the workspace owners when an OAuth connection needs reconnecting (once, not once per run).

:mod:`engine.oauth.tokens` marks a connection ``reconnect_needed`` when the provider refuses its
refresh token for good, and calls :func:`reconnect_needed` after that change is committed. Every
later step fails fast without trying to refresh, so the status change itself happens once; the
mail is further debounced (one per connection per :data:`DEBOUNCE`) so a connection that is
reconnected and refused again the same day does not flood the owners' inboxes.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlmodel import select

from engine.config import get_settings
from engine.db import session_scope, utcnow
from engine.mail import templates
from engine.models import Membership, Role, SystemMail, User, Workspace
from engine.services import system_mail

log = structlog.get_logger("flowmate.connections")
KIND = "reconnect_needed"
DEBOUNCE = timedelta(hours=24)


def reconnect_needed(workspace_id: str, connection_name: str, provider: str, reason: str) -> int:
    """Queue one mail per workspace owner; returns how many were queued (0 when debounced)."""
    with session_scope() as session:
        marker = f"“{connection_name}” ({provider})"
        recent = session.exec(select(SystemMail.subject).where(
            SystemMail.workspace_id == workspace_id, SystemMail.kind == KIND,
            SystemMail.created_at >= utcnow() - DEBOUNCE)).all()
        if any(marker in subject for subject in recent):
            return 0
        ws = session.get(Workspace, workspace_id)
        owners = session.exec(select(User.email).join(Membership, Membership.user_id == User.id).where(
            Membership.workspace_id == workspace_id, Membership.role == Role.owner.value)).all()
        link = get_settings().base_url.rstrip("/") + "/connections"
        name = ws.name if ws else ""
        rendered = templates.reconnect_needed(workspace=name, connection=connection_name, provider=provider,
                                              reason=reason, link=link)
        for email in owners:
            system_mail.queue_mail(session, to=email, kind=KIND, rendered=rendered, workspace_id=workspace_id,
                                   workspace_name=name)
    log.info("connection.reconnect_alert", workspace_id=workspace_id, owners=len(owners))
    return len(owners)
