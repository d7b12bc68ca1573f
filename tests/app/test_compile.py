"""Every registered page evaluates and the whole app compiles, without a browser or .web/.

Importing the module alone misses most UI mistakes: Reflex validates component props only when
a page function runs (e.g. a plain list where a Radix prop wants rx.breakpoints). These tests
catch that in well under a second instead of in a failed `reflex run`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from reflex.compiler import compiler

from flowmate_app.components.layout import NAV_ITEMS
from flowmate_app.flowmate_app import app

ROUTES = sorted(app._unevaluated_pages)


def test_every_nav_entry_has_a_page() -> None:
    routes = {"/" if r == "index" else "/" + r for r in ROUTES}
    missing = [item.href for item in NAV_ITEMS if item.href not in routes]
    assert not missing, f"sidebar links lead to 404: {missing}"


@pytest.mark.parametrize("route", ROUTES)
def test_page_evaluates(route: str) -> None:
    component = compiler.compile_unevaluated_page(route, app._unevaluated_pages[route])
    assert component.render()


def test_app_compiles_dry_run() -> None:
    """The full compiler pass (imports, app wrap, theme) without writing .web/."""
    app._compile(dry_run=True, use_rich=False)


def test_api_routes_mounted(sqlite_db: str, start_runtime: Callable[..., Any]) -> None:
    from fastapi.testclient import TestClient

    from flowmate_app.api import build_api

    start_runtime(threads=1)
    response = TestClient(build_api()).get("/api/health")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


def test_lifespan_hook_registered() -> None:
    from flowmate_app.lifespan import lifespan

    assert lifespan in app.get_lifespan_tasks()
