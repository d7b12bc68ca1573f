"""Two-factor authentication through the services, on SQLite and PostgreSQL: set-up with a code
computed from the secret, replay refused, recovery codes once, lockout, the workspace rule, and
deletion by emailed link for accounts without a password."""

from __future__ import annotations

import time

import pyotp
import pytest
from sqlmodel import select

from engine.db import session_scope
from engine.errors import Conflict, Forbidden, ValidationFailed
from engine.models import AuditLog, MfaRecoveryCode, Role, SystemMail, User, UserMfa
from engine.services import accounts, deletion, mfa, sessions, sso_policy
from engine.services.actor import Actor


@pytest.fixture
def people(any_db: str) -> dict[str, str]:
    with session_scope() as session:
        ws = accounts.create_workspace(session, "Harbour Cafe")
        owner = accounts.create_user(session, "owen@harbour.example", "owner-pass-1", ws, role="owner")
        member = accounts.create_user(session, "mia@harbour.example", "member-pass-1", ws, role="editor")
        admin = accounts.create_user(session, "ada@harbour.example", "admin-pass-1", ws, role="admin")
        return {"ws": ws.id, "owner": owner.id, "member": member.id, "admin": admin.id}


def _user(session, user_id: str) -> User:
    return session.get(User, user_id)


def _enable(user_id: str) -> tuple[pyotp.TOTP, list[str]]:
    """Set MFA up as a person would: take the key, type the app's current code."""
    with session_scope() as session:
        setup = mfa.begin_setup(session, _user(session, user_id))
    totp = pyotp.TOTP(setup.secret)
    with session_scope() as session:
        codes = mfa.confirm_setup(session, _user(session, user_id), totp.now())
    return totp, codes


def _next_code(totp: pyotp.TOTP) -> str:
    """A code for the next 30-second step: still accepted (clock drift), but not yet used."""
    return totp.at(time.time() + 30)


def test_setup_needs_a_correct_code_and_the_secret_is_encrypted(people) -> None:
    with session_scope() as session:
        user = _user(session, people["member"])
        setup = mfa.begin_setup(session, user)
        assert setup.uri.startswith("otpauth://totp/FlowMate:") and f"secret={setup.secret}" in setup.uri
        assert setup.qr_data_uri.startswith("data:image/svg+xml")
        again = mfa.begin_setup(session, user)  # reloading the page shows the same key
        assert again.secret == setup.secret
    with session_scope() as session:
        row = session.get(UserMfa, people["member"])
        assert setup.secret not in row.secret_encrypted and row.enabled_at is None
        with pytest.raises(mfa.MfaCodeInvalid):
            mfa.confirm_setup(session, _user(session, people["member"]), "000000")
    assert not _is_enabled(people["member"])
    totp = pyotp.TOTP(setup.secret)
    with session_scope() as session:
        codes = mfa.confirm_setup(session, _user(session, people["member"]), totp.now())
    assert len(codes) == 10 and len(set(codes)) == 10
    with session_scope() as session:
        stored = session.exec(select(MfaRecoveryCode.code_hash).where(
            MfaRecoveryCode.user_id == people["member"])).all()
        assert len(stored) == 10 and not set(codes) & set(stored)  # only keyed hashes are stored
        assert mfa.login_step(session, _user(session, people["member"])) == "verify"
        with pytest.raises(Conflict):
            mfa.begin_setup(session, _user(session, people["member"]))  # cannot swap the key while on


def _is_enabled(user_id: str) -> bool:
    with session_scope() as session:
        return mfa.is_enabled(session, user_id)


def test_a_code_is_not_accepted_twice_and_wrong_codes_are_refused(people) -> None:
    totp, _ = _enable(people["member"])
    with session_scope() as session:
        user = _user(session, people["member"])
        with pytest.raises(mfa.MfaCodeInvalid):
            mfa.check_code(session, user, totp.now())  # the set-up code: already used in its window
    with session_scope() as session:
        user = _user(session, people["member"])
        assert mfa.check_code(session, user, _next_code(totp)) == "totp"
    with session_scope() as session:
        user = _user(session, people["member"])
        for wrong in (_next_code(totp), "12345", "abcdef", totp.at(time.time() - 300)):
            with pytest.raises(mfa.MfaCodeInvalid):
                mfa.check_code(session, user, wrong)


def test_a_recovery_code_works_once(people) -> None:
    _, codes = _enable(people["member"])
    with session_scope() as session:
        assert mfa.check_code(session, _user(session, people["member"]), codes[3].upper().replace("-", " ")) \
            == "recovery"
    with session_scope() as session:
        with pytest.raises(mfa.MfaCodeInvalid):
            mfa.check_code(session, _user(session, people["member"]), codes[3])
        assert mfa.status(session, people["member"])["recovery_codes_left"] == 9
        used = session.exec(select(AuditLog).where(AuditLog.action == "mfa.recovery_code_used")).all()
        assert used and used[0].changes["codes_left"] == 9


def test_wrong_codes_at_sign_in_count_toward_the_lockout(people) -> None:
    totp, _ = _enable(people["member"])
    for _ in range(5):  # FLOWMATE_LOGIN_FAILURES_PER_ACCOUNT default: 5 per 5 minutes
        with session_scope() as session, pytest.raises(mfa.MfaCodeInvalid):
            mfa.verify_login(session, _user(session, people["member"]), "000000", "198.51.100.7")
    with session_scope() as session, pytest.raises(accounts.LoginLocked):
        mfa.verify_login(session, _user(session, people["member"]), _next_code(totp), "198.51.100.7")
    with session_scope() as session:  # another network is not locked out by the guesser
        assert mfa.verify_login(session, _user(session, people["member"]), _next_code(totp), "203.0.113.9") == "totp"
        failed = session.exec(select(AuditLog).where(AuditLog.action.in_(["auth.mfa_failed", "auth.locked"]))).all()
        assert len(failed) >= 5


def test_disable_needs_a_code_or_the_password(people) -> None:
    totp, codes = _enable(people["member"])
    with session_scope() as session:
        user = _user(session, people["member"])
        with pytest.raises(ValidationFailed):
            mfa.disable(session, user)
        with pytest.raises(ValidationFailed):
            mfa.disable(session, user, password="wrong password")
        with pytest.raises(mfa.MfaCodeInvalid):
            mfa.disable(session, user, code="999999")
    with session_scope() as session:
        mfa.disable(session, _user(session, people["member"]), password="member-pass-1")
    assert not _is_enabled(people["member"])
    with session_scope() as session:
        assert not session.exec(select(MfaRecoveryCode).where(MfaRecoveryCode.user_id == people["member"])).all()
        actions = {row.action for row in session.exec(select(AuditLog)).all()}
    assert {"mfa.setup_started", "mfa.enable", "mfa.disable"} <= actions
    totp, _ = _enable(people["member"])
    with session_scope() as session:
        mfa.disable(session, _user(session, people["member"]), code=_next_code(totp))
    assert not _is_enabled(people["member"])


def test_workspace_requirement_forces_setup_and_blocks_the_workspace(people) -> None:
    owner = Actor(people["ws"], Role.owner, "user:owen@harbour.example", people["owner"])
    admin = Actor(people["ws"], Role.admin, "user:ada@harbour.example", people["admin"])
    with session_scope() as session:
        with pytest.raises(Forbidden):
            mfa.set_workspace_requirement(session, admin, True)
        with pytest.raises(ValidationFailed):  # the owner would lock themselves out
            mfa.set_workspace_requirement(session, owner, True)
        member_token = sessions.start_session(session, _user(session, people["member"]), people["ws"])
    _enable(people["owner"])
    with session_scope() as session:
        mfa.set_workspace_requirement(session, owner, True)
    with session_scope() as session:
        assert sso_policy.get_policy(session, people["ws"]).require_mfa
        row = session.exec(select(AuditLog).where(AuditLog.action == "workspace.mfa_requirement")).one()
        assert row.changes == {"required": True, "members_without_mfa": 2}
        member = _user(session, people["member"])
        assert mfa.login_step(session, member) == "setup"
        assert sessions.session_actor(session, member_token) is None  # no access until set up
    totp, _ = _enable(people["member"])
    with session_scope() as session:
        assert sessions.session_actor(session, member_token) is not None
        with pytest.raises(Forbidden, match="requires two-factor"):
            mfa.disable(session, _user(session, people["member"]), code=_next_code(totp))
        mfa.set_workspace_requirement(session, owner, False)
    with session_scope() as session:
        assert mfa.login_step(session, _user(session, people["admin"])) == "none"


def test_recovery_codes_survive_a_key_rotation(people, monkeypatch: pytest.MonkeyPatch) -> None:
    from support import reset_engine_state

    _, codes = _enable(people["member"])
    from engine.config import get_settings

    old = get_settings().secret_key.get_secret_value()
    monkeypatch.setenv("FLOWMATE_SECRET_KEY", "a-brand-new-primary-key-0123456789")
    monkeypatch.setenv("FLOWMATE_OLD_SECRET_KEYS", old)
    reset_engine_state()
    with session_scope() as session:
        assert mfa.check_code(session, _user(session, people["member"]), codes[0]) == "recovery"


def test_an_account_without_a_password_deletes_itself_through_an_emailed_link(people) -> None:
    with session_scope() as session:
        sso_user = User(email="sam@harbour.example", name="Sam", password_hash="")
        session.add(sso_user)
        session.flush()
        accounts.add_member(session, Actor.system(people["ws"], "domain:harbour.example"), sso_user, Role.viewer)
        user_id = sso_user.id
        with pytest.raises(ValidationFailed, match="single sign-on"):
            deletion.delete_account(session, user_id, "")
        with pytest.raises(ValidationFailed):  # a password account confirms with its password
            deletion.send_delete_link(session, people["member"])
        assert deletion.send_delete_link(session, user_id) == "sam@harbour.example"
    with session_scope() as session:
        mail = session.exec(select(SystemMail).where(SystemMail.to_email == "sam@harbour.example",
                                                     SystemMail.kind == "account_deletion")).one()
        from engine.crypto import decrypt_json

        link = next(w for w in decrypt_json(mail.body_encrypted)["text"].split() if "/account/delete/" in w)
    token = link.rsplit("/", 1)[1]
    with session_scope() as session:
        assert deletion.delete_link_user(session, token).email == "sam@harbour.example"
        deletion.delete_account_by_link(session, token)
    with session_scope() as session:
        assert session.get(User, user_id) is None
        with pytest.raises(ValidationFailed):
            deletion.delete_link_user(session, token)


def test_account_flow_limits_are_shared_through_redis(sqlite_db, redis_env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every web process sees the same counts: a second process (fresh throttles) is refused too."""
    from engine import auth_limits

    monkeypatch.setenv("FLOWMATE_ACCOUNT_RATE_LIMIT", "2/minute")
    from engine.config import get_settings

    get_settings.cache_clear()
    auth_limits.check_flow("reset", "203.0.113.20", "a@example.com")
    auth_limits.check_flow("reset", "203.0.113.20", "b@example.com")
    auth_limits._instances.clear()  # as if another web process answered the third request
    with pytest.raises(auth_limits.TooManyAttempts) as err:
        auth_limits.check_flow("reset", "203.0.113.20", "c@example.com")
    assert err.value.retry_after > 0 and "Try again in 1 minute" in str(err.value)
    auth_limits.check_flow("verify", "203.0.113.20", "c@example.com")  # each flow counts on its own
