"""One engine and session factory for SQLite (embedded default) and PostgreSQL (psycopg 3).

SQLite gets WAL mode and a busy timeout so the web app, in-process workers and the CLI can
share one file; PostgreSQL gets a pool sized for a threaded worker.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from engine.config import get_settings

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def utcnow() -> datetime:
    """Aware UTC now: every timestamp FlowMate stores is timezone-aware UTC."""
    return datetime.now(UTC)


def as_aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; treat them as the UTC they were written as."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def get_engine(url: str | None = None) -> Engine:
    """The shared engine for ``url`` (default: FLOWMATE_DATABASE_URL)."""
    url = url or get_settings().database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                # No pre-ping: it costs a round trip per checkout on the hot path. A connection
                # that died with the server is invalidated on first use; the run it served is
                # retried by lease expiry and the sweeper.
                engine = create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pool (tests and forked processes call this)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
