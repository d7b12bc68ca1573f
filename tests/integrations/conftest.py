"""Fixtures for integration tests: local provider servers, a real SMTP server, connections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_providers import FakeProviders, MailSink, running_providers, running_smtp
from integ_helpers import connection_specs, create_connections


@pytest.fixture
def providers() -> Iterator[FakeProviders]:
    with running_providers() as fake:
        yield fake


@pytest.fixture
def smtp_server() -> Iterator[tuple[MailSink, int]]:
    with running_smtp(require_auth=True) as server:
        yield server


@pytest.fixture
def connected(sqlite_db: str, workspace: dict[str, str], providers: FakeProviders,
              smtp_server: tuple[MailSink, int]) -> dict[str, Any]:
    """A workspace whose default-named connections reach the local provider and SMTP servers."""
    ids = create_connections(workspace["id"], connection_specs(providers, smtp_server[1]))
    return {"workspace": workspace, "db": sqlite_db, "providers": providers, "smtp": smtp_server[0],
            "connections": ids}
