"""One engine and session factory for SQLite (embedded default) and PostgreSQL (psycopg 3).

SQLite gets WAL mode and a busy timeout so the web app, in-process workers and the CLI can
share one file; PostgreSQL gets a pool sized for a threaded worker. JSON goes through
engine.jsoncodec (NUL-safe on both). :class:`db_clock` is the database's own time, which leases
and schedules are computed and compared with, so a worker whose clock is wrong cannot take a
run that is still in flight. :func:`is_connection_error` tells a lost connection (retry it)
from a real error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, Float, bindparam, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, create_engine

from engine import jsoncodec
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


class db_clock(FunctionElement):  # noqa: N801 - reads like the SQL function it renders
    """The database's current time plus ``offset`` seconds, as a SQL expression.

    ``db_clock("lease_s")`` binds the offset as a parameter named ``lease_s``; a number is a
    literal offset. PostgreSQL: ``now() + make_interval(secs => ...)`` (the transaction's
    start time). SQLite: ``strftime(... 'now' ...)`` in the exact text format SQLAlchemy stores
    datetimes in, so comparisons with stored values stay correct.
    """

    type = DateTime(timezone=True)
    name = "db_clock"
    inherit_cache = True

    def __init__(self, offset: str | float = 0.0) -> None:
        param = bindparam(offset, type_=Float) if isinstance(offset, str) else bindparam(
            None, float(offset), type_=Float, literal_execute=True)
        super().__init__(param)


@compiles(db_clock)
def _db_clock_pg(element: db_clock, compiler, **kw) -> str:  # noqa: ANN001
    (offset,) = list(element.clauses)
    return f"(now() + make_interval(secs => {compiler.process(offset, **kw)}))"


@compiles(db_clock, "sqlite")
def _db_clock_sqlite(element: db_clock, compiler, **kw) -> str:  # noqa: ANN001
    (offset,) = list(element.clauses)
    return (f"(strftime('%Y-%m-%d %H:%M:%f', 'now', ({compiler.process(offset, **kw)}) || ' seconds') "
            "|| '000')")


def is_connection_error(exc: BaseException) -> bool:
    """True for a lost or refused database connection (server restart, failover, killed backend):
    the statement can be retried on a new connection; nothing about the data is wrong."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) and not isinstance(
        exc, sa_exc.IntegrityError)


def is_outage(exc: BaseException) -> bool:
    """A lost or refused connection to the database or to Redis (restart, failover): the work
    can be retried later; nothing about it is wrong. The executor releases the run for it, the
    API answers 503 with Retry-After."""
    if is_connection_error(exc):
        return True
    import redis

    return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


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
                engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15},
                                       json_serializer=jsoncodec.dumps, json_deserializer=jsoncodec.loads)
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                # No pre-ping: it costs a round trip per checkout on the hot path. A connection
                # that died with the server is invalidated on first use; the run it served is
                # retried by lease expiry and the sweeper.
                engine = create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800,
                                       json_serializer=jsoncodec.dumps, json_deserializer=jsoncodec.loads)
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
