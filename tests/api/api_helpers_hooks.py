"""Helpers for the API tests (a module name unique across tests/)."""

from __future__ import annotations

from typing import Any


def run_row(run_id: str) -> Any:
    from engine.db import session_scope
    from engine.models import Run

    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None, f"no run {run_id}"
        return run
