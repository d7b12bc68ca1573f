"""Dashboard state: headline figures, the runs-per-day chart and what needs attention.

``load`` runs on page load; ``poll`` is called every few seconds by an invisible ticker while the
dashboard is open, so a run started anywhere (CLI, webhook, another browser) shows up without a
reload. All figures come from engine.services.dashboard in one call.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from engine.db import session_scope
from engine.errors import FlowMateError
from engine.services import dashboard
from flowmate_app import live
from flowmate_app.auth import AuthState, error_text
from flowmate_app.formatting import fmt_ago, fmt_duration


class DashboardState(AuthState):
    loading: bool = True
    load_error: str = ""
    runs_today: int = 0
    runs_week: int = 0
    in_flight: int = 0
    failed_week: int = 0
    success_rate: str = "—"
    success_hint: str = "needs a finished run"
    p50: str = "—"
    p50_hint: str = "needs a finished run"
    workflows_total: int = 0
    workflows_enabled: int = 0
    connections: int = 0
    chart: list[dict[str, Any]] = []
    failed_recent: list[dict[str, str]] = []
    top_workflows: list[dict[str, str]] = []
    updated: str = ""

    def _refresh(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                data = dashboard.summary(session, actor)
        except FlowMateError as exc:
            self.load_error = error_text(exc)
            return
        except Exception:  # a dropped database connection: say so, keep the last figures
            self.load_error = "The dashboard could not be loaded. Is the database reachable?"
            return
        self.load_error = ""
        self.runs_today = data["runs_today"]
        self.runs_week = data["runs_week"]
        self.in_flight = data["in_flight"]
        self.failed_week = data["failed_week"]
        finished = data["succeeded_week"] + data["failed_week"]
        if data["success_rate"] is None:
            self.success_rate, self.success_hint = "—", "needs a finished run"
        else:
            self.success_rate = f"{data['success_rate']:g}%"
            self.success_hint = f"of {finished} finished, last 7 days"
        if data["p50_ms"] is None:
            self.p50, self.p50_hint = "—", "needs a finished run"
        else:
            self.p50 = fmt_duration(data["p50_ms"])
            self.p50_hint = f"median of {data['duration_sample']} runs"
        self.workflows_total = data["workflows_total"]
        self.workflows_enabled = data["workflows_enabled"]
        self.connections = data["connections"]
        self.chart = data["chart"]
        self.failed_recent = [
            {"id": r["id"], "workflow": r["workflow_name"] or "Untitled workflow",
             "error": r["error"] or "No error message", "ago": fmt_ago(r["created_at"])}
            for r in data["failed_recent"]
        ]
        self.top_workflows = [
            {"id": w["id"], "name": w["name"], "runs": f"{w['runs']} run" + ("" if w["runs"] == 1 else "s"),
             "failed": str(w["failed"]),
             "share": f"{round(100 * w['runs'] / max(1, data['runs_week']))}%"}
            for w in data["top_workflows"]
        ]
        self.updated = "live"
        self.loading = False

    @rx.event
    def load(self) -> None:
        self._refresh()

    @rx.event
    def poll(self, _tick: str = "") -> None:
        if self.user_email:
            self._refresh()

    @rx.event(background=True)
    async def follow(self) -> None:
        """Live: re-read when a run of this workspace is created or changes state (flowmate_app/live.py)."""
        await live.follow(self, lambda s: s.user_email and s._refresh(), kinds=("run",), min_gap_s=0.5)
