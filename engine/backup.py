"""Backups of the embedded (SQLite) database: `flowmate backup` and `flowmate restore`.

SQLite's online backup API copies the database page by page through its own read transaction,
so the copy is one consistent snapshot even while the web app and its workers keep writing (WAL
mode lets them continue meanwhile). Copying the file with `cp` instead can tear a page or miss
the WAL. The copy is written next to the target and renamed into place, so a crash never leaves
a half-written backup under the requested name.

PostgreSQL has a better tool for this than anything we could write: ``pg_dump``. The commands
refuse PostgreSQL URLs and print the ``pg_dump``/``pg_restore`` line to use instead.

Restore only ever goes into an empty database (no tables, or only empty tables from a fresh
``flowmate db upgrade``), so it can never overwrite live data, and only from a backup whose
schema revision this version of FlowMate knows; an older revision is migrated to the newest one
right after the restore.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from engine.config import get_settings
from engine.errors import Conflict, FlowMateError, ValidationFailed

SQLITE_MAGIC = b"SQLite format 3\x00"


class PostgresBackupUnsupported(FlowMateError):
    """The database is PostgreSQL: pg_dump / pg_restore are the supported tools."""


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise ValidationFailed("an in-memory SQLite database cannot be backed up or restored",
                               {"FLOWMATE_DATABASE_URL": "needs a SQLite file"})
    return Path(parsed.database)


def _postgres_advice(url: str, action: str) -> PostgresBackupUnsupported:
    parsed = make_url(url).set(drivername="postgresql")
    shown = parsed.render_as_string(hide_password=True)
    if action == "backup":
        how = f"pg_dump --format=custom --file flowmate.dump '{shown}'"
    else:
        how = f"pg_restore --no-owner --dbname '{shown}' flowmate.dump (into an empty database)"
    return PostgresBackupUnsupported(
        f"FLOWMATE_DATABASE_URL is PostgreSQL: use PostgreSQL's own tools, e.g. {how}; "
        "see docs/deploy.md (Backups)")


def known_revisions() -> list[str]:
    """Every schema revision of this version's migrations, oldest first."""
    from alembic.script import ScriptDirectory

    from engine.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def backup(out: str | os.PathLike[str], url: str | None = None) -> dict[str, Any]:
    """Write a consistent copy of the SQLite database to ``out`` (which must not exist)."""
    url = url or get_settings().database_url
    source = _sqlite_path(url)
    if source is None:
        raise _postgres_advice(url, "backup")
    target = Path(out)
    if target.exists():
        raise Conflict(f"{target} already exists; choose a new file name (backups are never overwritten)")
    if not source.exists():
        raise ValidationFailed(f"the database file {source} does not exist", {"FLOWMATE_DATABASE_URL": "no such file"})
    if not target.parent.is_dir():
        raise ValidationFailed(f"the directory {target.parent} does not exist", {"out": "no such directory"})
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(tmp_name)
        try:
            src.execute("PRAGMA busy_timeout=30000")
            # pages=-1: the whole database in one step, i.e. under one read transaction; a
            # stepwise copy would restart every time a writer changed the source in between.
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            revision = _revision(dst)
            counts = _row_counts(dst)
        finally:
            dst.close()
            src.close()
        if check != "ok":
            raise FlowMateError(f"the copy failed SQLite's integrity check: {check}")
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return {"backup": str(target), "bytes": target.stat().st_size, "schema_revision": revision,
            "runs": counts.get("run", 0), "workflows": counts.get("workflow", 0)}


def restore(file: str | os.PathLike[str], url: str | None = None) -> dict[str, Any]:
    """Restore a backup made by :func:`backup` into the (empty) SQLite database at ``url``."""
    url = url or get_settings().database_url
    target = _sqlite_path(url)
    if target is None:
        raise _postgres_advice(url, "restore")
    source = Path(file)
    if not source.is_file():
        raise ValidationFailed(f"backup file not found: {source}", {"file": "not found"})
    with source.open("rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise ValidationFailed(f"{source} is not a FlowMate backup (not a SQLite database)",
                                   {"file": "not a SQLite database"})
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        revision = _revision(src)
        known = known_revisions()
        if revision is None:
            raise ValidationFailed(f"{source} has no FlowMate schema version (alembic_version)",
                                   {"file": "no schema version"})
        if revision not in known:
            raise ValidationFailed(
                f"{source} has schema revision {revision}, which this FlowMate version does not know "
                f"(it knows {', '.join(known)}): restore it with the FlowMate version that made it, or newer",
                {"file": f"unknown schema revision {revision}"})
        if target.exists():
            dst_check = sqlite3.connect(target)
            try:
                # A freshly migrated database holds only its schema version and its recorded region.
                filled = {t: n for t, n in _row_counts(dst_check).items()
                          if n and t not in ("alembic_version", "deploymentfact")}
            finally:
                dst_check.close()
            if filled:
                tables = ", ".join(f"{t} ({n} rows)" for t, n in sorted(filled.items()))
                raise Conflict(f"the database {target} is not empty ({tables}); restore only goes into an "
                               "empty database, so nothing is ever overwritten")
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=-1)
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            counts = _row_counts(dst)
        finally:
            dst.close()
    finally:
        src.close()
    if check != "ok":
        raise FlowMateError(f"the restored database failed SQLite's integrity check: {check}")
    upgraded_to = revision
    if revision != known[-1]:
        from engine.migrate import upgrade

        upgrade(url)
        upgraded_to = known[-1]
    return {"restored": str(target), "from": str(source), "schema_revision": revision,
            "schema_revision_now": upgraded_to, "runs": counts.get("run", 0),
            "workflows": counts.get("workflow", 0)}
