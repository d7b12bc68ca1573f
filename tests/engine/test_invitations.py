"""Invitations, email verification and password reset through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlmodel import select

from engine.crypto import decrypt_json
from engine.db import session_scope, utcnow
from engine.errors import Forbidden, ValidationFailed
from engine.models import AuditLog, Invitation, Membership, Role, SystemMail, User, UserSession
from engine.services import accounts, invitations, password_reset, sessions, verification
from engine.services.actor import Actor


def _token(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[1]


def _mail_link(to: str, kind: str) -> str:
    with session_scope() as session:
        mail = session.exec(select(SystemMail).where(SystemMail.to_email == to, SystemMail.kind == kind)
                            .order_by(SystemMail.created_at.desc())).first()
        body = decrypt_json(mail.body_encrypted)
    return re.search(r"https?://\S+", body["text"]).group(0)


@pytest.fixture
def team(any_db: str):
    """A workspace with an owner and an admin (both verified accounts)."""
    with session_scope() as session:
        ws = accounts.create_workspace(session, "Bondi Bakery")
        owner = accounts.create_user(session, "olive@bondi.example", "owner-pass-1", ws, role="owner")
        admin = accounts.create_user(session, "adam@bondi.example", "admin-pass-1", ws, role="admin")
        for u in (owner, admin):
            verification.mark_verified(session, u, "test")
        return {"ws": ws.id, "owner": Actor(ws.id, Role.owner, "user:olive@bondi.example", owner.id),
                "admin": Actor(ws.id, Role.admin, "user:adam@bondi.example", admin.id)}


def test_roles_capped_and_only_admins_invite(team) -> None:
    with session_scope() as session:
        with pytest.raises(Forbidden, match="above your own role"):
            invitations.invite(session, team["admin"], "boss@example.com", "owner")
        with pytest.raises(Forbidden):
            invitations.invite(session, Actor(team["ws"], Role.editor, "user:e@x"), "x@example.com", "viewer")
        with pytest.raises(ValidationFailed) as err:
            invitations.invite(session, team["owner"], "adam@bondi.example", "viewer")
        assert "email" in err.value.fields
        inv, _ = invitations.invite(session, team["owner"], "Boss@Example.com", "owner")
        assert inv.email == "boss@example.com" and inv.role == "owner"


def test_signup_through_the_link_joins_with_the_role_once(team) -> None:
    with session_scope() as session:
        inv, link = invitations.invite(session, team["admin"], "nina@example.com", "editor")
        assert invitations.list_invitations(session, team["admin"])[0]["email"] == "nina@example.com"
    assert _mail_link("nina@example.com", "invitation") == link
    token = _token(link)
    with session_scope() as session:
        assert invitations.signup_invitation(session, token).role == "editor"
        user = invitations.accept_for_signup(session, token, password="nina-pass-1", name="Nina")
        assert user.email_verified_at is not None
    with session_scope() as session:
        m = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
        assert (m.workspace_id, m.role) == (team["ws"], "editor")
        assert invitations.list_invitations(session, team["admin"]) == []
        with pytest.raises(invitations.InvitationInvalid) as err:
            invitations.accept_for_signup(session, token, password="another-pass", name="")
        assert err.value.reason == "used"
        assert invitations.signup_invitation(session, token) is None
        actions = [a.action for a in session.exec(select(AuditLog).where(AuditLog.workspace_id == team["ws"]))]
        assert {"invitation.create", "invitation.accept", "member.add"} <= set(actions)


def test_expired_revoked_and_replaced_links_are_refused(team) -> None:
    with session_scope() as session:
        inv, old_link = invitations.invite(session, team["admin"], "late@example.com", "viewer")
        new_link = invitations.resend(session, team["admin"], inv.id)
    with session_scope() as session:
        with pytest.raises(invitations.InvitationInvalid) as err:
            invitations.lookup(session, _token(old_link))
        assert err.value.reason == "unknown"  # resending replaced the token
        row = session.get(Invitation, inv.id)
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    with session_scope() as session:
        with pytest.raises(invitations.InvitationInvalid) as err:
            invitations.accept_for_signup(session, _token(new_link), password="late-pass-1")
        assert err.value.reason == "expired"
        revived = invitations.resend(session, team["admin"], inv.id)  # an expired one can be sent again
        invitations.revoke(session, team["admin"], inv.id)
    with session_scope() as session:
        with pytest.raises(invitations.InvitationInvalid) as err:
            invitations.lookup(session, _token(revived))
        assert err.value.reason == "revoked"
        assert session.exec(select(User).where(User.email == "late@example.com")).first() is None


def test_existing_account_must_be_verified_and_the_invited_address(team) -> None:
    with session_scope() as session:
        other_ws = accounts.create_workspace(session, "Elsewhere")
        sam = accounts.create_user(session, "sam@example.com", "sam-pass-12", other_ws, role="owner")
        link = verification.send_verification(session, sam, "Elsewhere")
        _inv, invite_link = invitations.invite(session, team["owner"], "sam@example.com", "viewer")
        assert invitations.lookup(session, _token(invite_link)).account_exists
    token = _token(invite_link)
    with session_scope() as session:
        sam = session.exec(select(User).where(User.email == "sam@example.com")).one()
        with pytest.raises(Forbidden, match="confirm your email"):
            invitations.accept(session, token, sam)
        adam = session.exec(select(User).where(User.email == "adam@bondi.example")).one()
        with pytest.raises(Forbidden, match="this invitation is for sam@example.com"):
            invitations.accept(session, token, adam)
    assert _mail_link("sam@example.com", "verification") == link
    with session_scope() as session:
        verification.verify_email(session, _token(link))
    with session_scope() as session:
        with pytest.raises(ValidationFailed):
            verification.verify_email(session, _token(link))  # single use
        sam = session.exec(select(User).where(User.email == "sam@example.com")).one()
        assert invitations.accept(session, token, sam).role == "viewer"
        assert {ws.name for ws, _ in accounts.memberships_of(session, sam.id)} == {"Bondi Bakery", "Elsewhere"}


def test_reset_works_once_and_ends_every_session(team, monkeypatch) -> None:
    with session_scope() as session:
        olive = session.exec(select(User).where(User.email == "olive@bondi.example")).one()
        tokens = [sessions.start_session(session, olive) for _ in range(2)]
    assert password_reset.request_reset("olive@bondi.example") == password_reset.ANSWER
    token = _token(_mail_link("olive@bondi.example", "password_reset"))
    with session_scope() as session:
        assert password_reset.check_token(session, token) == "olive@bondi.example"
        password_reset.reset_password(session, token, "brand-new-pass")
    with session_scope() as session:
        assert all(sessions.resolve_session(session, t) is None for t in tokens)
        assert session.exec(select(UserSession).where(UserSession.revoked_at.is_(None))).all() == []
        with pytest.raises(ValidationFailed):
            password_reset.reset_password(session, token, "third-password")
        assert accounts.authenticate(session, "olive@bondi.example", "brand-new-pass").email == "olive@bondi.example"


def test_reset_for_unknown_email_answers_the_same_in_the_same_time(team) -> None:
    def timed(email: str) -> tuple[str, float]:
        t0 = time.perf_counter()
        answer = password_reset.request_reset(email)
        return answer, time.perf_counter() - t0

    known = [timed("adam@bondi.example") for _ in range(3)]
    unknown = [timed("nobody@bondi.example") for _ in range(3)]
    assert {a for a, _ in known + unknown} == {password_reset.ANSWER}
    median_known = sorted(t for _, t in known)[1]
    median_unknown = sorted(t for _, t in unknown)[1]
    assert abs(median_known - median_unknown) < 0.1, (median_known, median_unknown)
    with session_scope() as session:
        assert session.exec(select(SystemMail).where(SystemMail.to_email == "nobody@bondi.example")).first() is None


def test_token_expiry_and_last_used(team) -> None:
    from engine.models import ApiToken

    with session_scope() as session:
        with pytest.raises(Forbidden):
            accounts.create_token(session, team["admin"], role="owner", name="too high")
        with pytest.raises(ValidationFailed):
            accounts.create_token(session, team["admin"], role="viewer", name="x", expires_in_days=0)
        token, clear = accounts.create_token(session, team["admin"], role="editor", name="ci", expires_in_days=7)
    with session_scope() as session:
        assert accounts.resolve_token(session, clear).role == Role.editor
    with session_scope() as session:
        row = session.get(ApiToken, token.id)
        assert row.last_used_at is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    with session_scope() as session:
        assert accounts.resolve_token(session, clear) is None


def test_leave_rules(team) -> None:
    from engine.services import my_workspaces

    with session_scope() as session:
        with pytest.raises(ValidationFailed, match="only workspace"):
            my_workspaces.leave_workspace(session, team["admin"])
        adam = session.get(User, team["admin"].user_id)
        my_workspaces.create_own_workspace(session, adam, "Adam's own")
        my_workspaces.leave_workspace(session, team["admin"])
        assert [ws.name for ws, _ in accounts.memberships_of(session, adam.id)] == ["Adam's own"]
        olive = session.get(User, team["owner"].user_id)
        my_workspaces.create_own_workspace(session, olive, "Olive's second")
        with pytest.raises(ValidationFailed, match="last owner"):
            my_workspaces.leave_workspace(session, team["owner"])
