"""The audit trail as an auditor checks it: a hash chain per workspace, verified from the shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text

from engine.config import get_settings
from engine.db import get_engine, session_scope
from engine.errors import Forbidden
from engine.models import AuditLog
from engine.services import accounts, audit, sessions, workflows
from engine.services.actor import Actor


def flowmate(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLOWMATE_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _log_rows(workspace_id: str, n: int) -> None:
    with session_scope() as session:
        actor = Actor.system(workspace_id)
        for i in range(n):
            audit.record(session, actor, "workspace.update", "workspace", workspace_id, {"i": i, "name": "Café ☕"})


def _rows(workspace_id: str) -> list[AuditLog]:
    with session_scope() as session:
        return list(session.exec(AuditLog.__table__.select().where(AuditLog.workspace_id == workspace_id)
                                 .order_by(AuditLog.seq)).all())


def test_verify_passes_then_names_the_edited_and_the_deleted_row(any_db: str, workspace: dict) -> None:
    _log_rows(workspace["id"], 5)
    ok = flowmate("audit", "verify", "--workspace", workspace["slug"], url=any_db)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] and report["chains"][0]["rows"] == 6  # workspace.create + 5

    rows = _rows(workspace["id"])
    edited = rows[3]
    with get_engine().begin() as conn:  # what someone with database access might do
        conn.execute(text("UPDATE auditlog SET actor = 'user:nobody@example.com' WHERE id = :id"), {"id": edited.id})
    bad = flowmate("audit", "verify", "--workspace", workspace["slug"], url=any_db)
    assert bad.returncode == 1
    broken = json.loads(bad.stdout)["chains"][0]["broken"]
    assert broken["id"] == edited.id and broken["seq"] == edited.seq and "changed" in broken["reason"]

    with get_engine().begin() as conn:  # put it back, then delete another row
        conn.execute(text("UPDATE auditlog SET actor = :a WHERE id = :id"), {"a": edited.actor, "id": edited.id})
        conn.execute(text("DELETE FROM auditlog WHERE id = :id"), {"id": rows[1].id})
    assert flowmate("audit", "verify", url=any_db).returncode == 1
    gone = json.loads(flowmate("audit", "verify", "--workspace", workspace["slug"], url=any_db).stdout)
    broken = gone["chains"][0]["broken"]
    assert broken["id"] == rows[2].id and "missing" in broken["reason"]  # the row after the deleted one


def test_deleting_the_newest_row_is_noticed(sqlite_db: str, workspace: dict) -> None:
    _log_rows(workspace["id"], 2)
    last = _rows(workspace["id"])[-1]
    with get_engine().begin() as conn:
        conn.execute(text("DELETE FROM auditlog WHERE id = :id"), {"id": last.id})
    with session_scope() as session:
        result = audit.verify_chain(session, workspace["id"])
    assert not result["ok"] and "newest" in result["broken"]["reason"]


def test_two_concurrent_writers_leave_one_valid_chain(pg_db: str, workspace: dict) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            _log_rows(workspace["id"], 1)  # one transaction per row: maximal interleaving
            for _ in range(24):
                _log_rows(workspace["id"], 1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with session_scope() as session:
        result = audit.verify_chain(session, workspace["id"])
    assert result == {"ok": True, "chain": workspace["id"], "rows": 51, "broken": None}
    assert [r.seq for r in _rows(workspace["id"])] == list(range(1, 52))


def test_pseudonymising_a_deleted_person_keeps_the_chain_valid(any_db: str, workspace: dict) -> None:
    with session_scope() as session:
        ws = accounts.get_workspace_by_slug(session, workspace["slug"])
        accounts.create_user(session, "gone@example.com", "long enough pw", ws, role="editor")
    with session_scope() as session:
        sessions.log_in(session, "gone@example.com", "long enough pw")
    _log_rows(workspace["id"], 2)
    with session_scope() as session:
        count = audit.pseudonymise_actor(session, "gone@example.com", "deleted-user-7f3a")
    assert count >= 3  # user.create, member.add, auth.login
    with session_scope() as session:
        result = audit.verify_all(session)
        rows = session.exec(AuditLog.__table__.select()).all()
    assert all(c["ok"] for c in result), result
    assert not [r for r in rows if "gone@example.com" in json.dumps([r.actor, r.changes])]
    rewrite = [r for r in rows if r.action == "audit.pseudonymise" and r.workspace_id == workspace["id"]]
    assert rewrite and rewrite[0].changes["rows"] >= 3 and rewrite[0].changes["pseudonym"] == "deleted-user-7f3a"


def test_sign_in_events_appear_in_the_users_workspaces(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from limits import parse
    from support import reset_engine_state

    monkeypatch.setenv("FLOWMATE_LOGIN_RATE_LIMIT", "100/minute")  # only the failure lockout counts here
    reset_engine_state()
    max_failed = parse(get_settings().login_failures_per_account).amount
    with session_scope() as session:
        a = accounts.create_workspace(session, "Alpha")
        b = accounts.create_workspace(session, "Beta")
        other = accounts.create_workspace(session, "Other")
        user = accounts.create_user(session, "jo@example.com", "correct horse", a, role="owner")
        accounts.add_member(session, Actor.system(b.id), user, accounts.Role.editor)
        ids = {"a": a.id, "b": b.id, "other": other.id}
    with session_scope() as session:
        token = sessions.log_in(session, "jo@example.com", "correct horse")
    with session_scope() as session:
        sessions.switch_workspace(session, token, ids["b"])
    with session_scope() as session:
        sessions.log_out(session, token)
    for _ in range(max_failed):
        with pytest.raises(Forbidden), session_scope() as session:
            sessions.log_in(session, "jo@example.com", "wrong password")
    with pytest.raises(Forbidden), session_scope() as session:
        sessions.log_in(session, "nobody@example.com", "whatever")

    def actions(ws_id: str | None) -> list[str]:
        with session_scope() as session:
            return [r.action for r in session.exec(AuditLog.__table__.select().where(
                AuditLog.workspace_id == ws_id if ws_id else AuditLog.workspace_id.is_(None)
            ).order_by(AuditLog.seq)).all()]

    for key in ("a", "b"):
        got = actions(ids[key])
        assert {"auth.login", "auth.logout", "auth.locked"} <= set(got), got
        assert got.count("auth.login_failed") == max_failed - 1
    assert "workspace.switch" in actions(ids["b"]) and "user.create" in actions(ids["a"])
    assert [a for a in actions(ids["other"]) if a.startswith("auth.")] == []
    assert "auth.login_failed" in actions(None)  # the unknown email: outside workspaces
    with session_scope() as session:
        assert all(c["ok"] for c in audit.verify_all(session))


def test_workflow_update_diff_names_the_changed_step_field(sqlite_db: str, workspace: dict) -> None:
    actor = Actor.system(workspace["id"])
    definition = {"name": "Lead", "trigger": {"type": "webhook", "config": {}}, "steps": [
        {"key": "greet", "action": "core.log", "config": {"message": "hello"}},
        {"key": "bye", "action": "core.log", "config": {"message": "bye"}}]}
    with session_scope() as session:
        wf_id = workflows.create_workflow(session, actor, definition).id
    definition["steps"][0]["config"]["message"] = "hello there"
    definition["steps"] = [definition["steps"][0], {"key": "new", "action": "core.log", "config": {"message": "x"}}]
    definition["trigger"]["config"] = {"auth": {"type": "header", "header_name": "X-Token", "token": "s3cret-value"}}
    with session_scope() as session:
        workflows.update_workflow(session, actor, wf_id, definition)
    with session_scope() as session:
        row = audit.list_audit(session, actor, action="workflow.update")["items"][0]
    diff = row["changes"]
    assert diff["steps"]["changed"]["greet"]["config.message"] == {"from": "hello", "to": "hello there"}
    assert diff["steps"]["added"] == [{"key": "new", "action": "core.log"}]
    assert diff["steps"]["removed"] == [{"key": "bye", "action": "core.log"}]
    assert diff["trigger_secrets_set"] == ["token"] and diff["version"] == {"from": 1, "to": 2}
    assert "s3cret-value" not in json.dumps(diff)


def test_connection_rows_name_the_secret_fields_and_tests_are_audited(sqlite_db: str, workspace: dict) -> None:
    from engine.services import connections

    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        conn = connections.create_connection(session, actor, {
            "type": "http", "name": "api", "config": {"auth_type": "bearer"}, "secret": {"token": "tok-123456"}})
        conn_id = conn.id
    with session_scope() as session:
        result = connections.test_connection(session, actor, conn_id)
    with session_scope() as session:
        items = audit.list_audit(session, actor, action="connection.")["items"]
    by_action = {i["action"]: i for i in items}
    assert by_action["connection.create"]["changes"]["secrets_set"] == ["token"]
    assert by_action["connection.test"]["changes"]["ok"] is result["ok"]
    assert "tok-123456" not in json.dumps(items)


def test_key_rotation_is_visible_in_every_affected_workspace(sqlite_db: str, monkeypatch) -> None:
    from engine.config import get_settings
    from engine.services import connections
    from engine.services.keys import rotate_secrets

    with session_scope() as session:
        wss = [accounts.create_workspace(session, n) for n in ("One", "Two", "Three")]
        ids = [w.id for w in wss]
        for ws_id in ids[:2]:
            connections.create_connection(session, Actor.system(ws_id), {
                "type": "slack", "name": "s", "secret": {"webhook_url": "https://hooks.slack.invalid/x"}})
    old = get_settings().secret_key.get_secret_value()
    monkeypatch.setenv("FLOWMATE_SECRET_KEY", "n" * 40)
    monkeypatch.setenv("FLOWMATE_OLD_SECRET_KEYS", old)
    get_settings.cache_clear()
    with session_scope() as session:
        rotate_secrets(session)
    with session_scope() as session:
        seen = {ws_id: [i["changes"] for i in audit.list_audit(session, Actor.system(ws_id),
                                                                action="keys.rotate")["items"]] for ws_id in ids}
        assert all(c["ok"] for c in audit.verify_all(session))
    assert seen[ids[0]] == [{"scope": "workspace", "connections": 1, "triggers": 0}]
    assert seen[ids[1]] and seen[ids[2]] == []
    get_settings.cache_clear()



def test_upgrading_chains_the_rows_written_before(tmp_path, monkeypatch) -> None:
    """A database from before the chain (revision 0002) verifies after `flowmate db upgrade`."""
    from alembic import command
    from engine.config import get_settings
    from engine.db import dispose_engines
    from engine.migrate import alembic_config, upgrade

    def reset_engine_state() -> None:
        dispose_engines()
        get_settings.cache_clear()

    url = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setenv("FLOWMATE_DATABASE_URL", url)
    reset_engine_state()
    command.upgrade(alembic_config(url), "0002")
    with get_engine().begin() as conn:
        conn.execute(text("INSERT INTO workspace (id, name, slug, timezone, data_region, retention_days, created_at) "
                          "VALUES ('w1', 'Old', 'old', 'UTC', 'au', 30, '2026-01-01 00:00:00')"))
        for i, (ws, action) in enumerate([("w1", "workspace.create"), (None, "keys.rotate"),
                                          ("w1", "workflow.update")]):
            conn.execute(text("INSERT INTO auditlog (id, workspace_id, actor, action, object_type, changes, "
                              "created_at) VALUES (:id, :ws, 'cli', :a, 'x', :c, :t)"),
                         {"id": f"r{i}", "ws": ws, "a": action, "c": json.dumps({"n": i, "é": [1.5, None]}),
                          "t": f"2026-01-0{i + 1} 10:00:00.123456"})
    upgrade(url)
    with session_scope() as session:
        chains = audit.verify_all(session)
        audit.record(session, Actor.system("w1"), "workspace.update", "workspace", "w1", {"after": 1})
    assert all(c["ok"] for c in chains) and {c["rows"] for c in chains} == {2, 1}
    with session_scope() as session:
        assert audit.verify_chain(session, "w1") == {"ok": True, "chain": "w1", "rows": 3, "broken": None}
    reset_engine_state()


def test_retention_prunes_the_oldest_rows_and_the_kept_chain_still_verifies(any_db: str, workspace: dict) -> None:
    """Retention deletes a prefix and records where the kept part starts; any other gap is still tampering."""
    from datetime import timedelta

    from engine.db import utcnow

    _log_rows(workspace["id"], 8)
    rows = _rows(workspace["id"])
    old = [r.id for r in rows[:4]]
    with get_engine().begin() as conn:  # the first four rows are two years old
        conn.execute(AuditLog.__table__.update().where(AuditLog.__table__.c.id.in_(old))
                     .values(created_at=utcnow() - timedelta(days=730)))
    deleted = audit.prune_chain(get_engine(), workspace["id"], utcnow() - timedelta(days=365), batch=3)
    assert deleted == 4
    with session_scope() as session:
        result = audit.verify_chain(session, workspace["id"])
    assert result["ok"], result
    kept = _rows(workspace["id"])
    assert [r.seq for r in kept] == [r.seq for r in rows[4:]]
    with get_engine().begin() as conn:  # a row deleted in the middle is still noticed
        conn.execute(text("DELETE FROM auditlog WHERE id = :id"), {"id": kept[1].id})
    with session_scope() as session:
        broken = audit.verify_chain(session, workspace["id"])["broken"]
    assert broken["seq"] == kept[2].seq and "missing" in broken["reason"]
