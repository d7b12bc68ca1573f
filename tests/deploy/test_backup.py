"""`flowmate backup` / `flowmate restore` on the embedded SQLite database.

The main test backs up a RUNNING instance (the served app with its in-process workers) while
webhooks keep arriving, restores the copy into an empty database and checks that every run that
had finished before the backup started is there, unchanged, step by step; the others check what
restore refuses (a non-empty database, an unknown schema revision, a file that is no backup) and
that a PostgreSQL URL is pointed at pg_dump.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from deploy_support import (
    REPO,
    VENV_BIN,
    Procs,
    base_env,
    compose_command,
    free_port,
    local_argv,
    wait_healthy,
    with_option,
)

WORKFLOW = {
    "name": "Backup lead",
    "trigger": {"type": "webhook", "config": {}},
    "steps": [
        {"key": "note", "action": "core.log", "config": {"message": "lead {{ trigger.body.email }}"}},
        {"key": "score", "action": "data.transform",
         "config": {"mapping": {"email": "{{ trigger.body.email }}", "score": "{{ trigger.body.n * 2 }}"}}},
    ],
}
FINISHED = ("succeeded", "failed", "cancelled")


def flowmate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "flowmate"), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def finished_runs(db: Path) -> dict[str, dict]:
    """Every finished run with its steps, read straight from the file (what must survive)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        runs = {row[0]: {"status": row[1], "result": row[2], "finished_at": row[3], "steps": {}}
                for row in conn.execute("SELECT id, status, result, finished_at FROM run WHERE status IN (?, ?, ?)",
                                        FINISHED)}
        for run_id, key, status, attempts, output in conn.execute(
                "SELECT run_id, step_key, status, attempts, output FROM steprun"):
            if run_id in runs:
                runs[run_id]["steps"][key] = (status, attempts, output)
    finally:
        conn.close()
    return runs


def run_ids(db: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM run")}
    finally:
        conn.close()


@pytest.fixture
def hooks(sqlite_db: str) -> list[str]:
    from engine.db import session_scope
    from engine.services.accounts import create_workspace
    from engine.services.actor import Actor
    from engine.services.workflows import create_workflow, workflow_public

    with session_scope() as session:
        ws = create_workspace(session, "Backup bakery")
        paths = []
        for n in range(8):
            wf = create_workflow(session, Actor.system(ws.id), {**WORKFLOW, "name": f"Backup hook {n}"})
            session.flush()
            paths.append(workflow_public(session, wf)["webhook_path"])
    return paths


def test_backup_of_a_running_instance_under_webhook_load_restores_every_finished_run(
        sqlite_db: str, hooks: list[str], tmp_path: Path) -> None:
    db = Path(sqlite_db.removeprefix("sqlite:///"))
    port = free_port()
    env = base_env(tmp_path, FLOWMATE_DATABASE_URL=sqlite_db, FLOWMATE_BASE_URL=f"http://127.0.0.1:{port}")
    procs = Procs(tmp_path)
    # The compose file's web command, embedded mode (no Redis): the instance a SQLite user runs.
    web = compose_command("web")
    web = with_option(with_option(local_argv(web), "--port", str(port)), "--host", "127.0.0.1")
    web = [*web, "--backend-only"]
    accepted: list[tuple[float, str]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def send(worker: int) -> None:
        n = worker
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            while not stop.is_set():
                r = client.post(hooks[n % len(hooks)], json={"email": f"lead{n}@example.com.au", "n": n})
                if r.status_code == 202:
                    with lock:
                        accepted.append((time.monotonic(), r.json()["run_id"]))
                n += 6

    try:
        server = procs.start("web", web, env)
        wait_healthy(f"http://127.0.0.1:{port}", server, lambda: procs.log("web"))
        senders = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(6)]
        for t in senders:
            t.start()
        time.sleep(3)  # runs are being accepted and finished all the time from here on
        with lock:
            accepted_before = [rid for _, rid in accepted]
        done_before = finished_runs(db)
        started = time.monotonic()
        out = tmp_path / "flowmate-backup.db"
        result = flowmate(env, "backup", "--out", str(out))
        backup_seconds = time.monotonic() - started
        time.sleep(1)
        with lock:
            during = [rid for t, rid in accepted if t > started]
        stop.set()
        for t in senders:
            t.join(timeout=30)
    finally:
        stop.set()
        procs.close()

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["backup"] == str(out) and report["schema_revision"]
    assert len(done_before) >= 20, f"too little load to prove anything ({len(done_before)} finished runs)"
    assert during, f"no webhook was accepted while the backup ran ({backup_seconds:.2f}s): not under load"
    assert not list(tmp_path.glob(".flowmate-backup.db.*")), "no partial file left behind"

    restored = tmp_path / "restored" / "flowmate.db"
    restore_env = {**env, "FLOWMATE_DATABASE_URL": f"sqlite:///{restored}"}
    result = flowmate(restore_env, "restore", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["runs"] == report["runs"]

    after = finished_runs(restored)
    missing = set(done_before) - set(after)
    assert not missing, f"{len(missing)} finished runs missing from the restored database"
    changed = [rid for rid, run in done_before.items() if after[rid] != run]
    assert not changed, f"finished runs differ after restore: {changed[:3]}"
    assert set(accepted_before) <= run_ids(restored), "a run accepted (202) before the backup is missing"
    # One consistent snapshot: every finished run in the copy has both its steps finished.
    torn = [rid for rid, run in after.items() if run["status"] == "succeeded"
            and sorted(run["steps"]) != ["note", "score"]]
    assert not torn, f"runs finished without all their steps in the copy: {torn[:3]}"

    # The restored database serves: the CLI reads a run from it, and restoring again is refused.
    some = next(iter(done_before))
    shown = flowmate(restore_env, "runs", "show", some)
    assert shown.returncode == 0 and json.loads(shown.stdout)["status"] == done_before[some]["status"]
    again = flowmate(restore_env, "restore", str(out))
    assert again.returncode == 2 and "not empty" in again.stderr
    assert len(finished_runs(restored)) == len(after)


def _cli(*args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from engine.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_restore_refuses_what_it_cannot_restore_safely(sqlite_db: str, workspace: dict, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from deploy_support import reset_engine_state

    out = tmp_path / "b.db"
    code, stdout, _ = _cli("backup", "--out", str(out))
    assert code == 0 and json.loads(stdout)["workflows"] == 0
    code, _, err = _cli("backup", "--out", str(out))
    assert code == 2 and "already exists" in err

    # Into the live (non-empty) database: refused, nothing changed.
    code, _, err = _cli("restore", str(out))
    assert code == 2 and "not empty" in err and "workspace (1 rows)" in err

    # A fresh, migrated but empty database is fine.
    fresh = tmp_path / "fresh.db"
    monkeypatch.setenv("FLOWMATE_DATABASE_URL", f"sqlite:///{fresh}")
    reset_engine_state()
    from engine.migrate import upgrade

    upgrade()
    code, stdout, err = _cli("restore", str(out))
    assert code == 0, err
    with sqlite3.connect(fresh) as conn:
        assert conn.execute("SELECT count(*) FROM workspace").fetchone()[0] == 1

    # A backup from a newer FlowMate (unknown revision) is refused.
    newer = tmp_path / "newer.db"
    newer.write_bytes(out.read_bytes())
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    monkeypatch.setenv("FLOWMATE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    reset_engine_state()
    code, _, err = _cli("restore", str(newer))
    assert code == 2 and "9999" in err and "does not know" in err
    assert not (tmp_path / "empty.db").exists() or (tmp_path / "empty.db").stat().st_size == 0

    # Not a backup at all.
    junk = tmp_path / "junk.db"
    junk.write_text("hello")
    code, _, err = _cli("restore", str(junk))
    assert code == 2 and "not a SQLite database" in err
    code, _, err = _cli("restore", str(tmp_path / "nope.db"))
    assert code == 2 and "not found" in err


def test_older_backup_is_migrated_to_the_newest_schema_after_restore(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from deploy_support import reset_engine_state

    from alembic import command
    from engine.backup import known_revisions
    from engine.migrate import alembic_config

    old = tmp_path / "old.db"
    monkeypatch.setenv("FLOWMATE_DATABASE_URL", f"sqlite:///{old}")
    monkeypatch.delenv("FLOWMATE_REDIS_URL", raising=False)
    reset_engine_state()
    command.upgrade(alembic_config(f"sqlite:///{old}"), known_revisions()[0])
    code, stdout, err = _cli("backup", "--out", str(tmp_path / "old-backup.db"))
    assert code == 0, err
    monkeypatch.setenv("FLOWMATE_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    reset_engine_state()
    code, stdout, err = _cli("restore", str(tmp_path / "old-backup.db"))
    assert code == 0, err
    result = json.loads(stdout)
    assert result["schema_revision"] == known_revisions()[0]
    assert result["schema_revision_now"] == known_revisions()[-1]
    reset_engine_state()


def test_postgres_backup_points_at_pg_dump_without_the_password(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    from deploy_support import reset_engine_state

    monkeypatch.setenv("FLOWMATE_DATABASE_URL", "postgresql://flowmate:s3cret-pw@db.internal/flowmate")
    reset_engine_state()
    try:
        code, _, err = _cli("backup", "--out", str(tmp_path / "x"))
        assert code == 2 and "pg_dump --format=custom" in err and "s3cret-pw" not in err
        assert "db.internal/flowmate" in err
        code, _, err = _cli("restore", str(tmp_path / "x"))
        assert code == 2 and "pg_restore" in err and "s3cret-pw" not in err
    finally:
        reset_engine_state()
