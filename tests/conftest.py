"""Shared fixtures: a fresh database per test module (SQLite, or PostgreSQL), Redis, settings.

Under CI=true a missing PostgreSQL, Redis or Chromium is a FAILURE, never a skip: CI must prove
the integration paths every time. Locally, those tests skip with a clear reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import free_port, reset_engine_state  # noqa: F401 - re-exported for test modules

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get("FLOWMATE_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("FLOWMATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Tests never talk to the outside world; loopback servers they start must be reachable.
os.environ.setdefault("FLOWMATE_ENV", "test")
os.environ.setdefault("FLOWMATE_OUTBOUND_ALLOW", "127.0.0.0/8")
os.environ.setdefault("FLOWMATE_LOG_FORMAT", "json")
os.environ.setdefault("FLOWMATE_EXPORT_DIR", os.path.join(__import__("tempfile").mkdtemp(prefix="flowmate-exports-")))


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)



def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def create_pg_database() -> str:
    """Create a throwaway database (ours to drop) and return its URL."""
    import psycopg

    name = f"flowmate_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    assert name.startswith("flowmate_test_"), "only drop databases the tests created"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return _pg_available()


@pytest.fixture(scope="session")
def redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture
def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite database and the embedded (in-process) queue."""
    url = f"sqlite:///{tmp_path / 'flowmate.db'}"
    monkeypatch.setenv("FLOWMATE_DATABASE_URL", url)
    monkeypatch.delenv("FLOWMATE_REDIS_URL", raising=False)
    reset_engine_state()
    from engine.migrate import upgrade

    upgrade(url)
    yield url
    reset_engine_state()


@pytest.fixture
def pg_db(monkeypatch: pytest.MonkeyPatch, pg_available: bool) -> Iterator[str]:
    """A migrated PostgreSQL database of our own, dropped afterwards."""
    if not pg_available:
        unavailable(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    url = create_pg_database()
    monkeypatch.setenv("FLOWMATE_DATABASE_URL", url)
    monkeypatch.delenv("FLOWMATE_REDIS_URL", raising=False)
    reset_engine_state()
    from engine.migrate import upgrade

    upgrade(url)
    yield url
    reset_engine_state()
    drop_pg_database(url)


@pytest.fixture
def redis_env(monkeypatch: pytest.MonkeyPatch, redis_available: bool) -> Iterator[dict[str, str]]:
    """Redis URL plus a unique key namespace, so tests never touch anyone else's keys."""
    if not redis_available:
        unavailable(f"Redis is not reachable at {REDIS_TEST_URL}")
    namespace = f"flowmate-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("FLOWMATE_REDIS_URL", REDIS_TEST_URL)
    monkeypatch.setenv("FLOWMATE_REDIS_NAMESPACE", namespace)
    reset_engine_state()
    yield {"FLOWMATE_REDIS_URL": REDIS_TEST_URL, "FLOWMATE_REDIS_NAMESPACE": namespace}
    reset_engine_state()
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest) -> str:
    """Run a test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


#: Fixtures that choose the database and the queue through the environment: a broker is built after them.
_ENV_FIXTURES = ("sqlite_db", "pg_db", "any_db", "redis_env")


@pytest.fixture
def stub_broker(request: pytest.FixtureRequest) -> Iterator[Any]:
    """This test's own broker, installed as the one every enqueue goes through (as Dramatiq's
    tests/conftest.py builds one per test): a StubBroker, or Redis in the test's namespace when
    the test uses ``redis_env``. The environment fixtures the test asks for are set up first, so
    the broker is built for their settings and closed before they are torn down."""
    for name in request.fixturenames:
        if name in _ENV_FIXTURES:
            request.getfixturevalue(name)
    from engine.config import get_settings
    from engine.queue import install_broker, make_broker

    broker = make_broker(get_settings())
    install_broker(broker)
    yield broker
    install_broker(None)
    broker.close()


@pytest.fixture
def start_runtime(stub_broker: Any) -> Iterator[Callable[..., Any]]:
    """``start_runtime(threads=2, **options)`` builds and starts an engine.runtime.Runtime (worker
    threads + duties) on this test's broker; every runtime started is stopped at teardown."""
    from engine.runtime import Runtime

    started: list[Any] = []

    def start(threads: int = 2, **options: Any) -> Any:
        runtime = Runtime(broker=stub_broker, threads=threads, **options).start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in reversed(started):
        runtime.stop(grace_s=5.0)


@pytest.fixture
def workspace(request: pytest.FixtureRequest) -> dict[str, str]:
    """A workspace (and its owner actor) in whichever database the test set up."""
    from engine.db import session_scope
    from engine.services.accounts import create_workspace

    with session_scope() as session:
        ws = create_workspace(session, f"Test {uuid.uuid4().hex[:6]}")
        return {"id": ws.id, "slug": ws.slug}



def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last.

    Playwright's sync API keeps an asyncio loop running in the main thread while its session
    browser is open; plain tests that call ``asyncio.run`` must not run inside that window.
    """
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path))
