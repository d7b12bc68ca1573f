"""Per-workspace sign-in rules: email domains that join automatically, and "require SSO".

- ``allowed_domains`` + ``auto_join_role``: a person who signs in with an identity provider
  that vouches for an address at one of these domains (``email_verified``) joins the workspace
  with that role, e.g. everyone at ``bondibakery.com.au`` as viewer. Admins and owners set them.
- ``require_sso``: members of the workspace must sign in through an identity provider; the
  password login refuses them. Only owners switch it (it can lock people out).
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, select

from engine.db import utcnow
from engine.errors import Forbidden, ValidationFailed
from engine.models import Membership, Role, User, Workspace, WorkspaceAuthPolicy
from engine.services import audit
from engine.services.accounts import add_member
from engine.services.actor import Actor

DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# Addresses anyone can register: auto-joining on them would let the whole internet in.
PUBLIC_MAIL_DOMAINS = {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
                       "icloud.com", "me.com", "proton.me", "protonmail.com", "aol.com", "gmx.com"}
SSO_REQUIRED_MESSAGE = ("A workspace you belong to requires signing in with single sign-on: use one of the "
                        "sign-in buttons instead of your password.")


def get_policy(session: Session, workspace_id: str) -> WorkspaceAuthPolicy:
    policy = session.get(WorkspaceAuthPolicy, workspace_id)
    return policy or WorkspaceAuthPolicy(workspace_id=workspace_id)


def policy_public(policy: WorkspaceAuthPolicy) -> dict[str, Any]:
    return {"allowed_domains": list(policy.allowed_domains or []), "auto_join_role": policy.auto_join_role,
            "require_sso": bool(policy.require_sso)}


def parse_domains(text: str | list[str]) -> list[str]:
    parts = text if isinstance(text, list) else re.split(r"[\s,;]+", text or "")
    domains, bad = [], []
    for raw in parts:
        domain = raw.strip().lower().lstrip("@")
        if not domain:
            continue
        if not DOMAIN_RE.match(domain):
            bad.append(raw.strip())
        elif domain in PUBLIC_MAIL_DOMAINS:
            raise ValidationFailed("public mail domain", {"allowed_domains": f"{domain} is a public mail service: "
                                                                             "anyone could join"})
        elif domain not in domains:
            domains.append(domain)
    if bad:
        raise ValidationFailed("invalid domain", {"allowed_domains": f"not a domain name: {', '.join(bad)}"})
    return domains


def update_policy(session: Session, actor: Actor, *, allowed_domains: str | list[str] | None = None,
                  auto_join_role: str | None = None, require_sso: bool | None = None) -> WorkspaceAuthPolicy:
    actor.require(Role.admin)
    policy = session.get(WorkspaceAuthPolicy, actor.workspace_id) or WorkspaceAuthPolicy(
        workspace_id=actor.workspace_id)
    before = policy_public(policy)
    if allowed_domains is not None:
        policy.allowed_domains = parse_domains(allowed_domains)
    if auto_join_role is not None:
        try:
            role = Role(auto_join_role)
        except ValueError:
            raise ValidationFailed("unknown role", {"auto_join_role": "must be admin, editor or viewer"}) from None
        if role == Role.owner or role.rank > Role(actor.role).rank:
            raise Forbidden("people joining by domain cannot get the owner role or one above yours")
        policy.auto_join_role = role.value
    if require_sso is not None and bool(require_sso) != bool(policy.require_sso):
        if Role(actor.role) != Role.owner:
            raise Forbidden("only an owner can change whether this workspace requires SSO")
        policy.require_sso = bool(require_sso)
    after = policy_public(policy)
    if after != before:
        policy.updated_at = utcnow()
        session.add(policy)
        audit.record(session, actor, "workspace.sign_in_policy", "workspace", actor.workspace_id,
                     {"before": before, "after": after})
    return policy


class SsoRequired(Forbidden):
    """Password login refused because a workspace of this person requires SSO."""


def refuse_password_login(session: Session, email: str) -> None:
    """Raise SsoRequired when the account behind ``email`` must sign in with SSO."""
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    message = password_login_refusal(session, user) if user else None
    if message:
        raise SsoRequired(message)


def password_login_refusal(session: Session, user: User) -> str | None:
    """Why ``user`` may not sign in with a password (a workspace requires SSO), or None."""
    required = session.exec(
        select(WorkspaceAuthPolicy.workspace_id).join(Membership, Membership.workspace_id
                                                      == WorkspaceAuthPolicy.workspace_id)
        .where(Membership.user_id == user.id, WorkspaceAuthPolicy.require_sso.is_(True))
    ).first()
    return SSO_REQUIRED_MESSAGE if required else None


def auto_join(session: Session, user: User, verified_email: str) -> list[str]:
    """Add ``user`` to every workspace that lets this (provider-verified) domain in; returns their ids."""
    domain = verified_email.rpartition("@")[2].lower()
    joined = []
    for policy in session.exec(select(WorkspaceAuthPolicy)).all():
        if domain not in (policy.allowed_domains or []):
            continue
        exists = session.exec(select(Membership.id).where(Membership.user_id == user.id,
                                                          Membership.workspace_id == policy.workspace_id)).first()
        if exists or session.get(Workspace, policy.workspace_id) is None:
            continue
        add_member(session, Actor.system(policy.workspace_id, f"domain:{domain}"), user, Role(policy.auto_join_role))
        joined.append(policy.workspace_id)
    return joined
