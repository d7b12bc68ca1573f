"""Workspaces a signed-in person creates or leaves themselves (renaming is a workspace setting).

Creating makes the person its owner. Leaving is refused for the last owner (a workspace
always keeps someone who can manage it) and for a person's only workspace (a signed-in person
always has somewhere to be).
"""

from __future__ import annotations

from sqlmodel import Session, select

from engine.errors import NotFound, ValidationFailed
from engine.models import Membership, Role, User, Workspace
from engine.services import audit
from engine.services.accounts import add_member, create_workspace
from engine.services.actor import Actor
from engine.services.workspaces import _owner_count


def create_own_workspace(session: Session, user: User, name: str) -> Workspace:
    label = f"user:{user.email}"
    ws = create_workspace(session, name, actor_label=label)
    add_member(session, Actor.system(ws.id, label), user, Role.owner)
    return ws


def leave_workspace(session: Session, actor: Actor) -> None:
    """The actor (a person) leaves their current workspace."""
    if not actor.user_id:
        raise ValidationFailed("only a person can leave a workspace", {"workspace": "use a user session"})
    member = session.exec(select(Membership).where(Membership.user_id == actor.user_id,
                                                   Membership.workspace_id == actor.workspace_id)).first()
    if member is None:
        raise NotFound("workspace not found")
    mine = session.exec(select(Membership.id).where(Membership.user_id == actor.user_id)).all()
    if len(mine) <= 1:
        raise ValidationFailed("this is your only workspace",
                               {"workspace": "create or join another workspace before leaving this one"})
    if member.role == Role.owner.value and _owner_count(session, actor.workspace_id) <= 1:
        raise ValidationFailed("you are the last owner of this workspace",
                               {"workspace": "make someone else owner first, then leave"})
    session.delete(member)
    audit.record(session, actor, "member.leave", "user", actor.user_id, {"role": member.role})
