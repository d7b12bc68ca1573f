"""Data export (GDPR Art. 15/20, APP 12): one ZIP with a manifest and a JSON Lines file per kind.

An owner or admin exports the whole workspace; anyone exports their own data. Asking creates an
``ExportJob`` (and an audit row); a background duty (:func:`run_export_duty`, called by the
maintenance loop of whichever process runs it) claims the job with a lease and streams the
archive: rows are read in keyset-ordered batches through SQLAlchemy Core and written straight
into the ZIP entry, hashed on the way, so memory stays flat whatever the size of the workspace.
The finished file goes to export storage (engine.storage) and can be downloaded for 24 hours by
the person (or token) that asked, and nobody else: anyone else gets 404.

Never exported: connection and trigger secrets, token and session hashes, webhook tokens,
password hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import structlog
from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.engine import Connection as DbConnection
from sqlmodel import Session

from engine.config import get_settings
from engine.db import as_aware, get_engine, utcnow
from engine.errors import NotFound, ValidationFailed
from engine.models import (
    ApiToken,
    AuditLog,
    Connection,
    ExportJob,
    Membership,
    Role,
    Run,
    Step,
    StepRun,
    Trigger,
    Usage,
    User,
    UserSession,
    Workflow,
    Workspace,
)
from engine.services import audit
from engine.services.actor import Actor

log = structlog.get_logger("flowmate.exports")

SCOPES = ("workspace", "user")
FORMAT = "flowmate-export"
FORMAT_VERSION = 1
BATCH = 500
LEASE = timedelta(minutes=10)
PROGRESS_EVERY = 2000

jobs_t = ExportJob.__table__


# ------------------------------------------------------------------ requests (the write path)


def create_export(session: Session, actor: Actor, scope: str) -> ExportJob:
    """Queue an export of the workspace (admin or owner) or of the actor's own data."""
    from engine.services.residency import check_storage_region
    from engine.storage import export_storage

    if scope not in SCOPES:
        raise ValidationFailed("unknown export scope", {"scope": "must be workspace or user"})
    if scope == "workspace":
        actor.require(Role.admin)
    elif actor.user_id is None:
        raise ValidationFailed("an API token has no personal data to export",
                               {"scope": "use scope workspace, or sign in to export your own data"})
    store = export_storage()
    try:
        region = store.region()
    except Exception as exc:
        raise ValidationFailed("export storage is unreachable",
                               {"storage": f"{store.kind}: {exc.__class__.__name__}"}) from None
    check_storage_region(region)
    job = ExportJob(workspace_id=actor.workspace_id, scope=scope, requested_by=actor.label,
                    requested_by_user_id=actor.user_id, requested_by_token_id=actor.token_id,
                    storage=store.kind, storage_region=region)
    session.add(job)
    session.flush()
    audit.record(session, actor, "export.request", "export", job.id, {"scope": scope, "storage": store.kind,
                                                                       "storage_region": region})
    return job


def _own(session: Session, actor: Actor, export_id: str) -> ExportJob:
    """The requester's export in the actor's workspace; anything else is 404."""
    job = session.get(ExportJob, export_id)
    mine = job is not None and job.workspace_id == actor.workspace_id and (
        (job.requested_by_user_id is not None and job.requested_by_user_id == actor.user_id)
        or (job.requested_by_token_id is not None and job.requested_by_token_id == actor.token_id))
    if not mine:
        raise NotFound("export not found")
    return job


def get_export(session: Session, actor: Actor, export_id: str) -> ExportJob:
    return _own(session, actor, export_id)


def list_exports(session: Session, actor: Actor, limit: int = 20) -> list[dict[str, Any]]:
    """The actor's own exports in this workspace, newest first."""
    from sqlmodel import select as sm_select

    owner = (ExportJob.requested_by_user_id == actor.user_id if actor.user_id
             else ExportJob.requested_by_token_id == actor.token_id)
    rows = session.exec(sm_select(ExportJob).where(ExportJob.workspace_id == actor.workspace_id, owner)
                        .order_by(ExportJob.created_at.desc()).limit(limit)).all()
    return [export_public(j) for j in rows]


def export_public(job: ExportJob) -> dict[str, Any]:
    now = utcnow()
    expires = as_aware(job.expires_at)
    ready = job.status == "succeeded" and expires is not None and expires > now
    percent = 100 if job.status == "succeeded" else (
        int(job.progress_done * 100 / job.progress_total) if job.progress_total else 0)
    return {
        "id": job.id, "scope": job.scope, "status": "expired" if job.status == "succeeded" and not ready
        else job.status, "progress": {"done": job.progress_done, "total": job.progress_total, "percent": percent},
        "requested_by": job.requested_by, "storage": job.storage, "storage_region": job.storage_region,
        "size_bytes": job.size_bytes, "sha256": job.sha256, "error": job.error,
        "created_at": as_aware(job.created_at).isoformat(),
        "finished_at": as_aware(job.finished_at).isoformat() if job.finished_at else None,
        "expires_at": expires.isoformat() if expires else None,
        "download_url": f"/api/v1/exports/{job.id}/download" if ready else None,
    }


def filename(job: ExportJob) -> str:
    stamp = as_aware(job.created_at).strftime("%Y%m%d-%H%M%S")
    return f"flowmate-{job.scope}-export-{stamp}-{job.id[:8]}.zip"


def open_download(session: Session, actor: Actor, export_id: str) -> tuple[str, int | None, Iterator[bytes]]:
    """(file name, size, chunks) of a ready export for its requester; audited."""
    from engine.storage import export_storage

    job = _own(session, actor, export_id)
    expires = as_aware(job.expires_at)
    if job.status != "succeeded" or not job.storage_key:
        raise NotFound("this export is not ready" if job.status in ("queued", "running") else "export not found")
    if expires is None or expires <= utcnow():
        raise NotFound("this export link has expired: request a new export")
    audit.record(session, actor, "export.download", "export", job.id, {"scope": job.scope})
    return filename(job), job.size_bytes, export_storage().open_chunks(job.storage_key)


# ------------------------------------------------------------------ the background duty


def run_export_duty() -> int:
    """Maintenance entry point: build every claimable export, then expire old ones. Returns built."""
    built = 0
    while (job_id := claim_next()) is not None:
        build_export(job_id)
        built += 1
    expire_exports()
    return built


def claim_next() -> str | None:
    """Take one queued export (or one whose builder died) with a lease; None when there is none."""
    now = utcnow()
    with get_engine().begin() as conn:
        candidate = conn.execute(
            select(jobs_t.c.id).where(or_(jobs_t.c.status == "queued",
                                          and_(jobs_t.c.status == "running", jobs_t.c.lease_expires_at < now)))
            .order_by(jobs_t.c.created_at).limit(1)).scalar()
        if candidate is None:
            return None
        won = conn.execute(
            update(jobs_t).where(jobs_t.c.id == candidate, or_(
                jobs_t.c.status == "queued", and_(jobs_t.c.status == "running", jobs_t.c.lease_expires_at < now)))
            .values(status="running", started_at=now, lease_expires_at=now + LEASE, progress_done=0)).rowcount
    return candidate if won else None


def claim_next_id(export_id: str) -> bool:
    """Claim one specific queued export (the CLI builds its own export in-process)."""
    now = utcnow()
    with get_engine().begin() as conn:
        return bool(conn.execute(update(jobs_t).where(jobs_t.c.id == export_id, jobs_t.c.status == "queued")
                                 .values(status="running", started_at=now, lease_expires_at=now + LEASE)).rowcount)


def expire_exports() -> int:
    """Delete stored files of exports whose 24-hour link ran out."""
    from engine.storage import export_storage

    now = utcnow()
    with get_engine().begin() as conn:
        rows = conn.execute(select(jobs_t.c.id, jobs_t.c.storage_key).where(
            jobs_t.c.status == "succeeded", jobs_t.c.expires_at < now).limit(100)).all()
    if not rows:
        return 0
    store = export_storage()
    for export_id, key in rows:
        if key:
            try:
                store.delete(key)
            except Exception:
                log.exception("export.expire_delete_failed", export_id=export_id)
                continue
        with get_engine().begin() as conn:
            conn.execute(update(jobs_t).where(jobs_t.c.id == export_id).values(status="expired", storage_key=None))
    return len(rows)


def _progress(export_id: str, done: int, total: int | None = None) -> None:
    values: dict[str, Any] = {"progress_done": done, "lease_expires_at": utcnow() + LEASE}
    if total is not None:
        values["progress_total"] = total
    with get_engine().begin() as conn:
        conn.execute(update(jobs_t).where(jobs_t.c.id == export_id).values(**values))


def build_export(export_id: str) -> dict[str, Any]:
    """Build one claimed export into storage; returns its manifest. Failures are recorded on the job."""
    from engine.storage import export_storage, scratch_dir

    settings = get_settings()
    engine = get_engine()
    with Session(engine) as session:
        job = session.get(ExportJob, export_id)
        if job is None:
            raise NotFound("export not found")
        job_facts = {"id": job.id, "scope": job.scope, "workspace_id": job.workspace_id,
                     "requested_by": job.requested_by, "user_id": job.requested_by_user_id,
                     "created_at": as_aware(job.created_at), "storage_region": job.storage_region}
    tmp = Path(tempfile.mkstemp(prefix=f"export-{export_id}-", suffix=".zip", dir=scratch_dir(settings))[1])
    try:
        with engine.connect() as conn:
            kinds = _kinds(conn, job_facts)
            total = sum(count for _, count, _ in kinds)
            _progress(export_id, 0, total)
            manifest = _write_zip(tmp, conn, job_facts, kinds, lambda done: _progress(export_id, done))
        digest = hashlib.sha256()
        with open(tmp, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
        size = tmp.stat().st_size
        key = f"{job_facts['workspace_id'] or 'none'}/{export_id}.zip"
        export_storage(settings).put_file(key, tmp)
        now = utcnow()
        with engine.begin() as conn:
            conn.execute(update(jobs_t).where(jobs_t.c.id == export_id).values(
                status="succeeded", storage_key=key, size_bytes=size, sha256=digest.hexdigest(),
                progress_done=total, finished_at=now, lease_expires_at=None,
                expires_at=now + timedelta(hours=settings.export_link_hours)))
        log.info("export.built", export_id=export_id, scope=job_facts["scope"], bytes=size, rows=total)
        return manifest
    except Exception as exc:
        log.exception("export.failed", export_id=export_id)
        with engine.begin() as conn:
            conn.execute(update(jobs_t).where(jobs_t.c.id == export_id).values(
                status="failed", error=f"{exc.__class__.__name__}: the export could not be built",
                finished_at=utcnow(), lease_expires_at=None))
        raise
    finally:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------ what goes into the archive

Rows = Callable[[DbConnection], Iterator[dict[str, Any]]]


def _iso(value: Any) -> Any:
    return as_aware(value).isoformat() if value is not None else None


def _keyset(conn: DbConnection, table: Any, where: Any, columns: list[Any]) -> Iterator[list[Any]]:
    """Batches of rows ordered by primary key id, never more than BATCH in memory."""
    last = ""
    while True:
        batch = conn.execute(select(*columns).where(where, table.c.id > last).order_by(table.c.id)
                             .limit(BATCH)).all()
        if not batch:
            return
        yield batch
        last = batch[-1].id


def _count(conn: DbConnection, table: Any, where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(where)).scalar() or 0)


def _kinds(conn: DbConnection, job: dict[str, Any]) -> list[tuple[str, int, Rows]]:
    """(kind, row count, row generator) for the job's scope, in archive order."""
    ws_id, user_id = job["workspace_id"], job["user_id"]
    if job["scope"] == "workspace":
        specs: list[tuple[str, Any, Any, Rows]] = [
            ("workspaces", Workspace.__table__, Workspace.__table__.c.id == ws_id, _workspaces(ws_id)),
            ("memberships", Membership.__table__, Membership.__table__.c.workspace_id == ws_id,
             _memberships(Membership.__table__.c.workspace_id == ws_id)),
            ("workflows", Workflow.__table__, Workflow.__table__.c.workspace_id == ws_id, _workflows(ws_id)),
            ("runs", Run.__table__, Run.__table__.c.workspace_id == ws_id, _runs(ws_id)),
            ("connections", Connection.__table__, Connection.__table__.c.workspace_id == ws_id,
             _connections(ws_id)),
            ("tokens", ApiToken.__table__, ApiToken.__table__.c.workspace_id == ws_id,
             _tokens(ApiToken.__table__.c.workspace_id == ws_id)),
            ("audit", AuditLog.__table__, AuditLog.__table__.c.workspace_id == ws_id,
             _audit(AuditLog.__table__.c.workspace_id == ws_id)),
            ("usage", Usage.__table__, Usage.__table__.c.workspace_id == ws_id, _usage(ws_id)),
        ]
    else:
        email = conn.execute(select(User.__table__.c.email).where(User.__table__.c.id == user_id)).scalar() or ""
        label = f"user:{email}"
        ws_ids = select(Membership.__table__.c.workspace_id).where(Membership.__table__.c.user_id == user_id)
        specs = [
            ("profile", User.__table__, User.__table__.c.id == user_id, _profile(user_id)),
            ("memberships", Membership.__table__, Membership.__table__.c.user_id == user_id,
             _memberships(Membership.__table__.c.user_id == user_id)),
            ("sessions", UserSession.__table__, UserSession.__table__.c.user_id == user_id, _sessions(user_id)),
            ("workspaces", Workspace.__table__, Workspace.__table__.c.id.in_(ws_ids), _workspaces_in(ws_ids)),
            ("tokens", ApiToken.__table__, ApiToken.__table__.c.created_by == label,
             _tokens(ApiToken.__table__.c.created_by == label)),
            ("audit", AuditLog.__table__, AuditLog.__table__.c.actor == label,
             _audit(AuditLog.__table__.c.actor == label)),
        ]
    return [(kind, _count(conn, table, where), rows) for kind, table, where, rows in specs]


def _workspace_row(r: Any) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "slug": r.slug, "timezone": r.timezone, "data_region": r.data_region,
            "retention_days": r.retention_days, "audit_retention_days": r.audit_retention_days,
            "monthly_run_quota": r.monthly_run_quota, "created_at": _iso(r.created_at)}


def _workspaces(ws_id: str) -> Rows:
    return _workspaces_in([ws_id])


def _workspaces_in(ids: Any) -> Rows:
    t = Workspace.__table__

    def rows(conn: DbConnection) -> Iterator[dict[str, Any]]:
        for batch in _keyset(conn, t, t.c.id.in_(ids), [t]):
            yield from (_workspace_row(r) for r in batch)
    return rows


def _profile(user_id: str) -> Rows:
    t = User.__table__

    def rows(conn: DbConnection) -> Iterator[dict[str, Any]]:
        r = conn.execute(select(t.c.id, t.c.email, t.c.name, t.c.created_at).where(t.c.id == user_id)).first()
        if r is not None:
            yield {"id": r.id, "email": r.email, "name": r.name, "created_at": _iso(r.created_at)}
    return rows


def _memberships(where: Any) -> Rows:
    m, u = Membership.__table__, User.__table__

    def rows(conn: DbConnection) -> Iterator[dict[str, Any]]:
        last = ""
        while True:
            batch = conn.execute(select(m.c.id, m.c.user_id, m.c.workspace_id, m.c.role, m.c.created_at, u.c.email,
                                        u.c.name).join(u, u.c.id == m.c.user_id).where(where, m.c.id > last)
                                 .order_by(m.c.id).limit(BATCH)).all()
            if not batch:
                return
            for r in batch:
                yield {"id": r.id, "user_id": r.user_id, "email": r.email, "name": r.name,
                       "workspace_id": r.workspace_id, "role": r.role, "since": _iso(r.created_at)}
            last = batch[-1].id
    return rows


def _sessions(user_id: str) -> Rows:
    t = UserSession.__table__

    def rows(conn: DbConnection) -> Iterator[dict[str, Any]]:
        cols = [t.c.id, t.c.workspace_id, t.c.created_at, t.c.expires_at, t.c.revoked_at]
        for batch in _keyset(conn, t, t.c.user_id == user_id, cols):
            yield from ({"id": r.id, "workspace_id": r.workspace_id, "created_at": _iso(r.created_at),
                         "expires_at": _iso(r.expires_at), "revoked_at": _iso(r.revoked_at)} for r in batch)
    return rows


def _workflows(ws_id: str) -> Rows:
    w, s, tr = Workflow.__table__, Step.__table__, Trigger.__table__

    def rows(conn: DbConnection) -> Iterator[dict[str, Any]]:
        for batch in _keyset(conn, w, w.c.workspace_id == ws_id, [w]):
            ids = [r.id for r in batch]
            steps: dict[str, list[dict[str, Any]]] = {}
            for st in conn.execute(select(s.c.workflow_id, s.c.key, s.c.action, s.c.name, s.c.config, s.c.retry,
                                          s.c.when, s.c.timeout_s, s.c.position)
                                   .where(s.c.workflow_id.in_(ids)).order_by(s.c.position)):
                steps.setdefault(st.workflow_id, []).append(
                    {"key": st.key, "action": st.action, "name": st.name, "config": st.config, "retry": st.retry,
                     "when": st.when, "timeout_s": st.timeout_s})
            triggers = {t.workflow_id: {"type": t.type, "config": t.config}
                        for t in conn.execute(select(tr.c.workflow_id, tr.c.type, tr.c.config)
                                              .where(tr.c.workflow_id.in_(ids)))}
            for r in batch:
                yield {"id": r.id, "name": r.name, "description": r.description, "enabled": r.enabled,
                       "version": r.version, "timezone": r.timezone, "created_at": _iso(r.created_at),
                       "updated_at": _iso(r.updated_at), "trigger": triggers.get(r.id),
                       "steps": steps.get(r.id, [])}
    return rows


def _runs(ws_id: str) -> Rows:
    r_t, s_t = Run.__table__, StepRun.__table__
    run_cols = [r_t.c.id, r_t.c.workflow_id, r_t.c.workflow_version, r_t.c.definition, r_t.c.status,
                r_t.c.trigger_type, r_t.c.trigger_payload, r_t.c.attempt, r_t.c.error, r_t.c.result,
                r_t.c.rerun_of, r_t.c.created_at, r_t.c.started_at, r_t.c.finished_at]

    def rows(conn: DbConnection) -> Iterator[dict[str, Any]]:
        for batch in _keyset(conn, r_t, r_t.c.workspace_id == ws_id, run_cols):
            steps: dict[str, list[dict[str, Any]]] = {}
            for st in conn.execute(select(s_t).where(s_t.c.run_id.in_([r.id for r in batch]))
                                   .order_by(s_t.c.position)):
                steps.setdefault(st.run_id, []).append(
                    {"key": st.step_key, "action": st.action, "status": st.status, "attempts": st.attempts,
                     "input": st.input, "output": st.output, "error": st.error, "started_at": _iso(st.started_at),
                     "finished_at": _iso(st.finished_at)})
            for r in batch:
                yield {"id": r.id, "workflow_id": r.workflow_id, "workflow_version": r.workflow_version,
                       "status": r.status, "trigger_type": r.trigger_type, "trigger_payload": r.trigger_payload,
                       "attempt": r.attempt, "error": r.error, "result": r.result, "rerun_of": r.rerun_of,
                       "created_at": _iso(r.created_at), "started_at": _iso(r.started_at),
                       "finished_at": _iso(r.finished_at), "definition": r.definition,
                       "steps": steps.get(r.id, [])}
    return rows


def _connections(ws_id: str) -> Rows:
    t = Connection.__table__

    def rows(conn: DbConnection) -> Iterator[dict[str, Any]]:
        from engine.services.connections import CONNECTION_TYPES
        from engine.services.residency import provider_location

        cols = [t.c.id, t.c.type, t.c.name, t.c.config, t.c.created_at, t.c.updated_at]
        for batch in _keyset(conn, t, t.c.workspace_id == ws_id, cols):
            for r in batch:
                kind = CONNECTION_TYPES.get(r.type)
                yield {"id": r.id, "type": r.type, "name": r.name, "config": r.config,
                       "secret_fields": list(kind.secret_fields) if kind else [],
                       "data_location": provider_location(r.type, r.config),
                       "created_at": _iso(r.created_at), "updated_at": _iso(r.updated_at)}
    return rows


def _tokens(where: Any) -> Rows:
    t = ApiToken.__table__

    def rows(conn: DbConnection) -> Iterator[dict[str, Any]]:
        cols = [t.c.id, t.c.workspace_id, t.c.name, t.c.role, t.c.prefix, t.c.created_by, t.c.created_at,
                t.c.last_used_at, t.c.revoked_at]
        for batch in _keyset(conn, t, where, cols):
            yield from ({"id": r.id, "workspace_id": r.workspace_id, "name": r.name, "role": r.role,
                         "prefix": r.prefix, "created_by": r.created_by, "created_at": _iso(r.created_at),
                         "last_used_at": _iso(r.last_used_at), "revoked_at": _iso(r.revoked_at)} for r in batch)
    return rows


def _audit(where: Any) -> Rows:
    t = AuditLog.__table__

    def rows(conn: DbConnection) -> Iterator[dict[str, Any]]:
        for batch in _keyset(conn, t, where, [t]):
            yield from ({"id": r.id, "workspace_id": r.workspace_id, "actor": r.actor, "action": r.action,
                         "object_type": r.object_type, "object_id": r.object_id, "changes": r.changes,
                         "created_at": _iso(r.created_at)} for r in batch)
    return rows


def _usage(ws_id: str) -> Rows:
    t = Usage.__table__

    def rows(conn: DbConnection) -> Iterator[dict[str, Any]]:
        for batch in _keyset(conn, t, t.c.workspace_id == ws_id, [t.c.id, t.c.month, t.c.runs, t.c.steps]):
            yield from ({"month": r.month, "runs": r.runs, "steps": r.steps} for r in batch)
    return rows


class _HashingWriter:
    """Writes to a ZIP entry and hashes the same bytes (the manifest's SHA-256 per file)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.size += len(data)
        self.raw.write(data)


def _schema_version(conn: DbConnection) -> str | None:
    with contextlib.suppress(Exception):
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None


def _write_zip(path: Path, conn: DbConnection, job: dict[str, Any], kinds: list[tuple[str, int, Rows]],
               on_progress: Callable[[int], None]) -> dict[str, Any]:
    from engine.services.residency import deployment_region

    files: dict[str, dict[str, Any]] = {}
    done = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for kind, _count, rows in kinds:
            name = f"{kind}.jsonl"
            written = 0
            with zf.open(name, "w", force_zip64=True) as raw:
                out = _HashingWriter(raw)
                buffer: list[str] = []
                for row in rows(conn):
                    buffer.append(json.dumps(row, ensure_ascii=False, default=str, separators=(",", ":")))
                    written += 1
                    if len(buffer) >= BATCH:
                        out.write(("\n".join(buffer) + "\n").encode())
                        buffer.clear()
                    if (done + written) % PROGRESS_EVERY == 0:
                        on_progress(done + written)
                if buffer:
                    out.write(("\n".join(buffer) + "\n").encode())
            done += written
            files[name] = {"sha256": out.sha.hexdigest(), "bytes": out.size, "rows": written}
        ws_region = conn.execute(select(Workspace.__table__.c.data_region).where(
            Workspace.__table__.c.id == job["workspace_id"])).scalar()
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "schema_version": _schema_version(conn),
            "export_id": job["id"], "scope": job["scope"], "requested_by": job["requested_by"],
            "requested_at": job["created_at"].isoformat(), "created_at": utcnow().isoformat(),
            "workspace_id": job["workspace_id"] if job["scope"] == "workspace" else None,
            "user_id": job["user_id"] if job["scope"] == "user" else None,
            "data_region": {"deployment": deployment_region(), "workspace": ws_region,
                            "storage": job["storage_region"]},
            "counts": {kind: files[f"{kind}.jsonl"]["rows"] for kind, _, _ in kinds},
            "files": files,
            "never_included": ["connection secrets", "trigger secrets", "webhook tokens", "password hashes",
                               "token and session hashes"],
        }
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
    on_progress(done)
    return manifest


def verify_archive(path: str | Path) -> dict[str, Any]:
    """Check every file of an export ZIP against its manifest; returns the manifest (raises on a mismatch)."""
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        for name, facts in manifest["files"].items():
            sha = hashlib.sha256()
            with zf.open(name) as fh:
                while chunk := fh.read(1024 * 1024):
                    sha.update(chunk)
            if sha.hexdigest() != facts["sha256"]:
                raise ValueError(f"{name}: SHA-256 does not match the manifest")
    return manifest
