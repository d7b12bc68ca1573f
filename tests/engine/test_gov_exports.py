"""Exports: the ZIP's content, manifest hashes, no secrets, user scope, S3 storage (moto server)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from governance_support import SECRET, free_port, insert_runs, make_workflow, reset_engine_state

from engine.db import session_scope
from engine.errors import NotFound, ValidationFailed
from engine.services import exports
from engine.services.accounts import actor_for_user, create_token, create_user, create_workspace
from engine.services.actor import Actor
from engine.services.connections import create_connection
from engine.services.sessions import start_session


def _setup_workspace(name: str = "Bondi Bakery") -> dict:
    with session_scope() as session:
        ws = create_workspace(session, name)
        user = create_user(session, f"owner@{ws.slug}.example", "correct horse battery", ws, name="Olive Owner")
        actor = actor_for_user(session, user, ws.id)
        create_connection(session, actor, {"type": "twilio", "name": "sms", "config": {"account_sid": "AC1"},
                                           "secret": {"auth_token": SECRET}})
        _, clear_token = create_token(session, actor, role="editor", name="zapier")
        cookie = start_session(session, user, ws.id)
        ids = {"ws": ws.id, "slug": ws.slug, "user": user.id, "email": user.email}
    wf = make_workflow(actor)
    insert_runs(ids["ws"], wf, 25, payload={"email": "jo@example.com"})
    return {**ids, "actor": actor, "token": clear_token, "cookie": cookie, "workflow": wf}


def _build(actor: Actor, scope: str) -> tuple[str, bytes]:
    with session_scope() as session:
        job_id = exports.create_export(session, actor, scope).id
    assert exports.run_export_duty() >= 1
    with session_scope() as session:
        job = exports.get_export(session, actor, job_id)
        assert job.status == "succeeded", job.error
        name, size, chunks = exports.open_download(session, actor, job_id)
        data = b"".join(chunks)
    assert size == len(data) and name.endswith(".zip")
    return job_id, data


def test_workspace_export_has_every_kind_verified_hashes_and_no_secret(any_db: str, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWMATE_EXPORT_DIR", str(tmp_path / "exports"))
    from engine.config import get_settings

    get_settings.cache_clear()
    t = _setup_workspace()
    job_id, data = _build(t["actor"], "workspace")
    archive = tmp_path / "ws.zip"
    archive.write_bytes(data)
    manifest = exports.verify_archive(archive)
    assert manifest["scope"] == "workspace" and manifest["workspace_id"] == t["ws"]
    assert manifest["data_region"] == {"deployment": "local", "workspace": "au", "storage": "local"}
    assert manifest["counts"]["runs"] == 25 and manifest["counts"]["connections"] == 1
    assert manifest["counts"]["tokens"] == 1 and manifest["counts"]["workflows"] == 1
    assert manifest["counts"]["audit"] >= 3 and manifest["counts"]["memberships"] == 1
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        assert names == {"manifest.json", *(f"{k}.jsonl" for k in manifest["counts"])}
        runs = [json.loads(line) for line in zf.read("runs.jsonl").splitlines()]
        everything = b"".join(zf.read(n) for n in names)
    assert len(runs) == 25 and all(len(r["steps"]) == 2 for r in runs)
    assert runs[0]["trigger_payload"] == {"email": "jo@example.com"}
    # No secret anywhere: the connection secret, the token, its hash, the cookie, password hashes.
    from engine.crypto import hash_token

    for needle in (SECRET, t["token"], hash_token(t["token"]), t["cookie"], hash_token(t["cookie"]), "$argon2"):
        assert needle.encode() not in everything, needle
    # Tampering is detected by the manifest hashes.
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(tampered, "w") as dst:
        for n in src.namelist():
            dst.writestr(n, src.read(n) + (b"x" if n == "runs.jsonl" else b""))
    with pytest.raises(ValueError, match="runs.jsonl"):
        exports.verify_archive(tampered)
    # The request is audited.
    from sqlmodel import select

    from engine.models import AuditLog

    with session_scope() as session:
        actions = session.exec(select(AuditLog.action).where(AuditLog.object_id == job_id)).all()
    assert sorted(actions) == ["export.download", "export.request"]


def test_user_export_contains_only_that_users_data(sqlite_db: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWMATE_EXPORT_DIR", str(tmp_path / "exports"))
    from engine.config import get_settings

    get_settings.cache_clear()
    a, b = _setup_workspace("Alpha"), _setup_workspace("Beta")
    with session_scope() as session:
        from engine.models import User

        user = session.get(User, a["user"])
        start_session(session, user, a["ws"])
    _, data = _build(a["actor"], "user")
    archive = tmp_path / "me.zip"
    archive.write_bytes(data)
    manifest = exports.verify_archive(archive)
    assert manifest["scope"] == "user" and manifest["user_id"] == a["user"]
    assert set(manifest["counts"]) == {"profile", "memberships", "sessions", "workspaces", "tokens", "audit"}
    with zipfile.ZipFile(archive) as zf:
        text = b"".join(zf.read(n) for n in zf.namelist()).decode()
        profile = json.loads(zf.read("profile.jsonl"))
        sessions = [json.loads(x) for x in zf.read("sessions.jsonl").splitlines()]
    assert profile == {"id": a["user"], "email": a["email"], "name": "Olive Owner",
                       "created_at": profile["created_at"]}
    assert len(sessions) == 2 and all("token_hash" not in s for s in sessions)
    assert b["email"] not in text and b["ws"] not in text and "jo@example.com" not in text  # no runs
    assert a["cookie"] not in text


def test_someone_elses_export_is_404(sqlite_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWMATE_EXPORT_DIR", str(tmp_path / "exports"))
    from engine.config import get_settings

    get_settings.cache_clear()
    a, b = _setup_workspace("Alpha"), _setup_workspace("Beta")
    job_id, _ = _build(a["actor"], "workspace")
    with session_scope() as session:
        from engine.models import Workspace

        colleague = create_user(session, "colleague@alpha.example", "correct horse battery",
                                session.get(Workspace, a["ws"]), role="admin")
        colleague_actor = actor_for_user(session, colleague, a["ws"])
    for other in (b["actor"], colleague_actor, Actor.system(a["ws"])):
        with session_scope() as session, pytest.raises(NotFound):
            exports.open_download(session, other, job_id)
        with session_scope() as session, pytest.raises(NotFound):
            exports.get_export(session, other, job_id)


def test_an_expired_link_is_404_and_its_file_is_deleted(sqlite_db: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWMATE_EXPORT_DIR", str(tmp_path / "exports"))
    from engine.config import get_settings

    get_settings.cache_clear()
    a = _setup_workspace()
    job_id, _ = _build(a["actor"], "workspace")
    from datetime import timedelta

    from engine.db import utcnow
    from engine.models import ExportJob

    with session_scope() as session:
        job = session.get(ExportJob, job_id)
        job.expires_at = utcnow() - timedelta(seconds=1)
        key = job.storage_key
        session.add(job)
    assert (tmp_path / "exports" / key).exists()
    with session_scope() as session, pytest.raises(NotFound, match="expired"):
        exports.open_download(session, a["actor"], job_id)
    assert exports.expire_exports() == 1
    assert not (tmp_path / "exports" / key).exists()
    with session_scope() as session:
        assert exports.export_public(session.get(ExportJob, job_id))["status"] == "expired"


def test_a_token_cannot_export_personal_data_and_viewers_cannot_export_the_workspace(sqlite_db: str) -> None:
    from engine.errors import Forbidden
    from engine.models import Role

    a = _setup_workspace()
    token_actor = Actor(workspace_id=a["ws"], role=Role.owner, label="token:x", token_id="t1")
    with session_scope() as session, pytest.raises(ValidationFailed):
        exports.create_export(session, token_actor, "user")
    viewer = Actor(workspace_id=a["ws"], role=Role.viewer, label="user:v", user_id="u1")
    with session_scope() as session, pytest.raises(Forbidden):
        exports.create_export(session, viewer, "workspace")
    with session_scope() as session, pytest.raises(ValidationFailed):
        exports.create_export(session, a["actor"], "everything")


# ------------------------------------------------------------------ S3 (local moto server)


@pytest.fixture
def s3_server() -> str:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _s3_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, bucket: str, region: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id="test",
                          aws_secret_access_key="test")
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    for key, value in {"EXPORT_STORAGE": "s3", "S3_ENDPOINT_URL": endpoint, "S3_BUCKET": bucket,
                       "S3_REGION": region, "S3_ACCESS_KEY_ID": "test", "S3_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(f"FLOWMATE_{key}", value)


def test_export_to_s3_records_the_bucket_region(s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("FLOWMATE_DATA_REGION", "au-syd")
    monkeypatch.setenv("FLOWMATE_EXPORT_DIR", str(tmp_path / "scratch"))
    _s3_env(monkeypatch, s3_server, "flowmate-exports-syd", "ap-southeast-2")
    request.getfixturevalue("sqlite_db")  # migrated (and recorded) for au-syd
    a = _setup_workspace()
    job_id, data = _build(a["actor"], "workspace")
    with session_scope() as session:
        public = exports.export_public(exports.get_export(session, a["actor"], job_id))
    assert public["storage"] == "s3" and public["storage_region"] == "ap-southeast-2"
    archive = tmp_path / "s3.zip"
    archive.write_bytes(data)
    assert exports.verify_archive(archive)["data_region"]["storage"] == "ap-southeast-2"
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server, region_name="ap-southeast-2", aws_access_key_id="test",
                          aws_secret_access_key="test")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="flowmate-exports-syd")["Contents"]]
    assert keys == [f"{a['ws']}/{job_id}.zip"]
    assert not list((tmp_path / "scratch" / ".building").iterdir())  # nothing left on local disk


def test_export_storage_outside_the_deployment_region_is_refused(s3_server: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("FLOWMATE_DATA_REGION", "au-syd")
    monkeypatch.setenv("FLOWMATE_EXPORT_DIR", str(tmp_path / "scratch"))
    _s3_env(monkeypatch, s3_server, "flowmate-exports-virginia", "us-west-2")
    request.getfixturevalue("sqlite_db")
    a = _setup_workspace()
    with session_scope() as session, pytest.raises(ValidationFailed) as info:
        exports.create_export(session, a["actor"], "workspace")
    assert "us-west-2" in info.value.fields["storage"] and "Australia" in info.value.fields["storage"]
    reset_engine_state()
