"""A PostgreSQL outage answers 503 with Retry-After and a JSON error, never a 500.

The test's own database refuses connections (``ALLOW_CONNECTIONS false`` and its sessions
ended), as a restart or a failover does: a webhook sender and an API client learn to retry, the
log says "dependency unavailable" (no stack trace), and once the database is back the same
requests succeed.
"""

from __future__ import annotations

import os
from typing import Any

import psycopg
import pytest

PG_ADMIN_URL = os.environ.get("FLOWMATE_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _set_connections(name: str, allowed: bool) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        if not allowed:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


@pytest.mark.parametrize("any_api", ["postgres"], indirect=True)
def test_webhook_and_api_answer_503_while_postgresql_refuses_connections(
        any_api: Any, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    from engine.config import get_settings

    api = any_api
    wf = api.create_workflow()
    name = get_settings().database_url.rsplit("/", 1)[1]
    assert name.startswith("flowmate_test_")  # our own database
    _set_connections(name, False)
    try:
        hook = api.client.post(wf["webhook_path"], json={"order": 1})
        listing = api.get("/api/v1/workflows")
    finally:
        _set_connections(name, True)
    for answer in (hook, listing):
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "5"
        assert answer.json()["error"]["code"] == "unavailable"
        assert "retry" in answer.json()["error"]["message"]
    logged = caplog.text + "".join(capfd.readouterr())
    assert "api.dependency_unavailable" in logged and "Traceback" not in logged

    again = api.client.post(wf["webhook_path"], json={"order": 1})
    assert again.status_code == 202, again.text
    assert api.get("/api/v1/workflows").status_code == 200
