"""Fixtures for the REST API tests: a FastAPI TestClient on build_api() and token-holding actors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")


@dataclass
class Tenant:
    """A workspace and one API token per role."""

    id: str
    slug: str
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def make_tenant(name: str) -> Tenant:
    from engine.db import session_scope
    from engine.services.accounts import create_token, create_workspace
    from engine.services.actor import Actor

    with session_scope() as session:
        ws = create_workspace(session, name)
        tenant = Tenant(id=ws.id, slug=ws.slug)
        for role in ("owner", "admin", "editor", "viewer"):
            _, clear = create_token(session, Actor.system(ws.id), role=role, name=f"{role} token")
            tenant.tokens[role] = clear
    return tenant


@dataclass
class ApiCtx:
    client: Any
    a: Tenant
    b: Tenant

    def get(self, path: str, role: str = "owner", tenant: Tenant | None = None, **kw: Any) -> Any:
        return self.client.get(path, headers={**(tenant or self.a).auth(role), **kw.pop("headers", {})}, **kw)

    def post(self, path: str, json: Any = None, role: str = "owner", tenant: Tenant | None = None, **kw: Any) -> Any:
        return self.client.post(path, json=json, headers={**(tenant or self.a).auth(role), **kw.pop("headers", {})},
                                **kw)

    def create_workflow(self, definition: dict[str, Any] | None = None, tenant: Tenant | None = None) -> dict:
        r = self.post("/api/v1/workflows", definition or simple_workflow(), tenant=tenant)
        assert r.status_code == 201, r.text
        return r.json()


def simple_workflow(name: str = "Log it", trigger: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "trigger": trigger or {"type": "webhook", "config": {}},
        "steps": [{"key": "note", "action": "core.log", "config": {"message": "got {{ trigger.body }}"}}],
        **extra,
    }


def _client(app: Any) -> Any:
    from fastapi.testclient import TestClient

    return TestClient(app, raise_server_exceptions=False)


def _ctx() -> Iterator[ApiCtx]:
    from flowmate_app.api import build_api

    a, b = make_tenant("Alpha"), make_tenant("Beta")
    with _client(build_api()) as client:
        yield ApiCtx(client=client, a=a, b=b)


@pytest.fixture
def api(sqlite_db: str) -> Iterator[ApiCtx]:
    """build_api() on a fresh SQLite database, workspaces A and B with a token per role."""
    yield from _ctx()


@pytest.fixture(params=["sqlite", "postgres"])
def any_api(request: pytest.FixtureRequest) -> Iterator[ApiCtx]:
    """The same, once on SQLite and once on PostgreSQL."""
    request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")
    yield from _ctx()


@pytest.fixture
def api_factory(sqlite_db: str) -> Any:
    """Build the API after a test has changed settings (env vars): ``api_factory()``."""
    from engine.config import get_settings
    from flowmate_app.api import build_api

    def make() -> ApiCtx:
        get_settings.cache_clear()
        return ApiCtx(client=_client(build_api()), a=make_tenant("Alpha"), b=make_tenant("Beta"))

    return make
