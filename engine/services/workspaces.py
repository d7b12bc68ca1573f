"""Workspace settings and membership management (the web app's Settings and Members pages).

Admins and owners change settings and members; everyone in the workspace can read them. Every
change writes an audit row in the same transaction. The last owner of a workspace can never be
demoted, so a workspace always has someone who can manage it.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func
from sqlmodel import Session, select

from engine.db import as_aware
from engine.errors import Forbidden, NotFound, ValidationFailed
from engine.models import Membership, Role, User, Workspace
from engine.services import audit
from engine.services.accounts import add_member, normalise_email
from engine.services.actor import Actor
from engine.services.residency import served_workspace_regions

DATA_REGIONS: dict[str, str] = {
    "au": "Australia",
    "nz": "New Zealand",
    "sg": "Singapore",
    "us": "United States",
    "eu": "European Union",
}
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650


def get_workspace(session: Session, actor: Actor) -> Workspace:
    ws = session.get(Workspace, actor.workspace_id)
    if ws is None:
        raise NotFound("workspace not found")
    return ws


def workspace_public(ws: Workspace) -> dict[str, Any]:
    return {"id": ws.id, "name": ws.name, "slug": ws.slug, "timezone": ws.timezone,
            "data_region": ws.data_region, "retention_days": ws.retention_days,
            "monthly_run_quota": ws.monthly_run_quota, "created_at": as_aware(ws.created_at).isoformat()}


def update_settings(session: Session, actor: Actor, changes: dict[str, Any]) -> Workspace:
    """Change name, timezone, data region and/or retention days (admin or owner)."""
    actor.require(Role.admin)
    ws = get_workspace(session, actor)
    fields: dict[str, str] = {}
    clean: dict[str, Any] = {}
    unknown = set(changes) - {"name", "timezone", "data_region", "retention_days"}
    for key in sorted(unknown):
        fields[key] = "not a workspace setting"
    if "name" in changes:
        name = str(changes["name"] or "").strip()
        if not name or len(name) > 200:
            fields["name"] = "must be 1-200 characters"
        clean["name"] = name
    if "timezone" in changes:
        tz = str(changes["timezone"] or "").strip()
        try:
            ZoneInfo(tz)
            clean["timezone"] = tz
        except (ZoneInfoNotFoundError, ValueError):
            fields["timezone"] = f"unknown time zone {tz!r}"
    if "data_region" in changes:
        region = str(changes["data_region"] or "")
        if region not in DATA_REGIONS:
            fields["data_region"] = f"must be one of {', '.join(DATA_REGIONS)}"
        elif region not in served_workspace_regions():
            fields["data_region"] = f"this deployment keeps data in {', '.join(served_workspace_regions())} only"
        clean["data_region"] = region
    if "retention_days" in changes:
        try:
            days = int(changes["retention_days"])
        except (TypeError, ValueError):
            days = 0
        if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
            fields["retention_days"] = f"must be a whole number from {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}"
        clean["retention_days"] = days
    if fields:
        raise ValidationFailed("the settings are invalid", fields)
    before = {k: getattr(ws, k) for k in clean}
    changed = {k: v for k, v in clean.items() if before[k] != v}
    for key, value in changed.items():
        setattr(ws, key, value)
    session.add(ws)
    if changed:
        audit.record(session, actor, "workspace.update", "workspace", ws.id,
                     {"before": {k: before[k] for k in changed}, "after": changed})
    return ws


def list_members(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Everyone in the actor's workspace, owners first, then by email."""
    rows = session.exec(
        select(User, Membership).join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == actor.workspace_id)
    ).all()
    order = {r.value: r.rank for r in Role}
    members = [
        {"user_id": u.id, "email": u.email, "name": u.name, "role": m.role,
         "since": as_aware(m.created_at).isoformat(), "is_you": u.id == actor.user_id}
        for u, m in rows
    ]
    members.sort(key=lambda m: (-order.get(m["role"], 0), m["email"]))
    return members


def add_member_by_email(session: Session, actor: Actor, email: str, role: str) -> dict[str, Any]:
    """Add an existing FlowMate user to the workspace (admin or owner).

    People sign up themselves (their password is never chosen by someone else); an unknown
    email is answered with a field error telling the admin to ask them to sign up first.
    """
    actor.require(Role.admin)
    email = normalise_email(email)
    try:
        parsed = Role(role)
    except ValueError:
        raise ValidationFailed("unknown role", {"role": "must be one of owner, admin, editor, viewer"}) from None
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None:
        raise ValidationFailed("no FlowMate account uses this email yet",
                               {"email": "ask them to sign up first, then add them here"})
    existing = session.exec(select(Membership).where(Membership.user_id == user.id,
                                                     Membership.workspace_id == actor.workspace_id)).first()
    if existing is not None:
        raise ValidationFailed("already a member", {"email": "is already in this workspace; change their role"})
    add_member(session, actor, user, parsed)
    return {"user_id": user.id, "email": user.email, "role": parsed.value}


def set_member_role(session: Session, actor: Actor, user_id: str, role: str) -> None:
    """Change a member's role. Only owners grant or remove the owner role; the last owner stays."""
    actor.require(Role.admin)
    try:
        parsed = Role(role)
    except ValueError:
        raise ValidationFailed("unknown role", {"role": "must be one of owner, admin, editor, viewer"}) from None
    member = session.exec(select(Membership).where(Membership.user_id == user_id,
                                                   Membership.workspace_id == actor.workspace_id)).first()
    if member is None:
        raise NotFound("member not found")
    if member.role == parsed.value:
        return
    if Role.owner in (parsed, Role(member.role)) and Role(actor.role) != Role.owner:
        raise Forbidden("only an owner can grant or remove the owner role")
    if member.role == Role.owner.value and _owner_count(session, actor.workspace_id) <= 1:
        raise ValidationFailed("a workspace needs an owner", {"role": "make someone else owner first"})
    before = member.role
    member.role = parsed.value
    session.add(member)
    audit.record(session, actor, "member.role", "user", user_id, {"before": before, "after": parsed.value})


def remove_member(session: Session, actor: Actor, user_id: str) -> None:
    """Take someone out of the workspace (their account stays)."""
    actor.require(Role.admin)
    member = session.exec(select(Membership).where(Membership.user_id == user_id,
                                                   Membership.workspace_id == actor.workspace_id)).first()
    if member is None:
        raise NotFound("member not found")
    if member.role == Role.owner.value:
        if Role(actor.role) != Role.owner:
            raise Forbidden("only an owner can remove an owner")
        if _owner_count(session, actor.workspace_id) <= 1:
            raise ValidationFailed("a workspace needs an owner", {"role": "make someone else owner first"})
    session.delete(member)
    audit.record(session, actor, "member.remove", "user", user_id, {"role": member.role})


def _owner_count(session: Session, workspace_id: str) -> int:
    return int(session.exec(
        select(func.count()).select_from(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.role == Role.owner.value)
    ).one())
