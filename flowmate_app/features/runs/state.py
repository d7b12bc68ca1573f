"""Runs: the filtered, keyset-paginated history and one run's step-by-step detail, both live.

The list keeps a stack of cursors so "Newer" goes back exactly one page; every page is a
keyset query (engine.services.runs.list_runs), so page 2,000 costs the same as page 1. While a
page is open it is re-read every few seconds: statuses change in place and, on the first page,
new runs appear at the top without a reload.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import reflex as rx

from engine.db import session_scope, utcnow
from engine.errors import FlowMateError, NotFound
from engine.models import Role
from engine.registry import all_triggers
from engine.services import runs, workflows
from engine.states import ACTIVE_RUN_VALUES, RunStatus
from flowmate_app import live
from flowmate_app.auth import AuthState, error_text
from flowmate_app.features.runs import tree_view
from flowmate_app.formatting import fmt_ago, fmt_duration, fmt_time, pretty_json

PAGE_SIZE = 25
RANGES: dict[str, tuple[str, timedelta | None]] = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(days=1)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "all": ("All time", None),
}
STATUSES = [s.value for s in RunStatus]
IN_FLIGHT = frozenset(ACTIVE_RUN_VALUES)
#: How each trigger type is named in the runs list: its registered title (plugins included).
TRIGGER_LABELS = {name: kind.title for name, kind in all_triggers().items()}


class RunsState(AuthState):
    loading: bool = True
    load_error: str = ""
    rows: list[dict[str, str]] = []
    filter_workflow: str = "all"
    filter_status: str = "all"
    filter_range: str = "7d"
    workflow_options: list[dict[str, str]] = []
    cursor_stack: list[str] = []  # cursors of the pages before the current one ("" = first page)
    cursor: str = ""
    next_cursor: str = ""

    @rx.var
    def page_number(self) -> int:
        return len(self.cursor_stack) + 1

    @rx.var
    def filtered(self) -> bool:
        return self.filter_workflow != "all" or self.filter_status != "all" or self.filter_range != "7d"

    def _row(self, r: dict[str, Any]) -> dict[str, str]:
        tz = self.workspace_timezone
        return {
            "id": r["id"],
            "short_id": r["id"][:8],
            "workflow": r.get("workflow_name") or "Untitled workflow",
            "workflow_id": r["workflow_id"],
            "status": r["status"],
            "trigger": TRIGGER_LABELS.get(r["trigger_type"], r["trigger_type"]),
            "created": fmt_time(r["created_at"], tz, seconds=True),
            "ago": fmt_ago(r["created_at"]),
            "duration": fmt_duration(r["duration_ms"]) if r["duration_ms"] is not None else (
                "running…" if r["status"] in IN_FLIGHT else "—"),
            "attempt": str(r.get("attempt") or 0),
            "error": (r.get("error") or "")[:200],
        }

    def _query(self, cursor: str) -> tuple[list[dict[str, str]], str]:
        actor = self.actor()
        if actor is None:
            return [], ""
        delta = RANGES.get(self.filter_range, RANGES["7d"])[1]
        with session_scope() as session:
            page = runs.list_runs(
                session, actor,
                workflow_id=None if self.filter_workflow == "all" else self.filter_workflow,
                status=None if self.filter_status == "all" else self.filter_status,
                since=utcnow() - delta if delta else None,
                cursor=cursor or None, limit=PAGE_SIZE,
            )
        return [self._row(r) for r in page["items"]], page["next_cursor"] or ""

    def _reload(self) -> None:
        try:
            self.rows, self.next_cursor = self._query(self.cursor)
            self.load_error = ""
        except FlowMateError as exc:
            self.load_error = error_text(exc)
        except Exception:
            self.load_error = "The runs could not be loaded. Try again in a moment."
        self.loading = False

    def _load_workflow_options(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        with session_scope() as session:
            items = workflows.list_workflows(session, actor, limit=200)["items"]
        self.workflow_options = [{"id": w["id"], "name": w["name"]} for w in items]

    @rx.event
    def load(self) -> None:
        params = self.router.url.query_parameters
        self.filter_status = params.get("status", "all") if params.get("status") in STATUSES else "all"
        self.filter_workflow = params.get("workflow") or "all"
        self.filter_range = params.get("range", "7d") if params.get("range") in RANGES else "7d"
        self.cursor, self.cursor_stack = "", []
        try:
            self._load_workflow_options()
        except Exception:
            self.workflow_options = []
        if self.filter_workflow != "all" and self.filter_workflow not in {w["id"] for w in self.workflow_options}:
            self.filter_workflow = "all"
        self._reload()

    @rx.event
    def retry(self) -> None:
        self.loading = True
        self._reload()

    @rx.event
    def poll(self, _tick: str = "") -> None:
        if self.user_email and not self.loading:
            self._reload()

    @rx.event(background=True)
    async def follow(self) -> None:
        """Live: re-read when a run of this workspace is created or changes state (flowmate_app/live.py)."""
        await live.follow(self, lambda s: s.user_email and not s.loading and s._reload(), kinds=("run",),
                          min_gap_s=0.5)

    def _filters_changed(self) -> None:
        self.cursor, self.cursor_stack = "", []
        self.loading = True
        self._reload()

    @rx.event
    def set_filter_workflow(self, value: str) -> None:
        self.filter_workflow = value
        self._filters_changed()

    @rx.event
    def set_filter_status(self, value: str) -> None:
        self.filter_status = value
        self._filters_changed()

    @rx.event
    def set_filter_range(self, value: str) -> None:
        self.filter_range = value
        self._filters_changed()

    @rx.event
    def clear_filters(self) -> None:
        self.filter_workflow, self.filter_status, self.filter_range = "all", "all", "7d"
        self._filters_changed()

    @rx.event
    def older(self) -> None:
        if not self.next_cursor:
            return
        self.cursor_stack = [*self.cursor_stack, self.cursor]
        self.cursor = self.next_cursor
        self._reload()

    @rx.event
    def newer(self) -> None:
        if not self.cursor_stack:
            return
        self.cursor = self.cursor_stack[-1]
        self.cursor_stack = self.cursor_stack[:-1]
        self._reload()

    @rx.event
    def first_page(self) -> None:
        self.cursor, self.cursor_stack = "", []
        self._reload()


class RunDetailState(AuthState):
    detail_loading: bool = True
    detail_error: str = ""
    not_found: bool = False
    run: dict[str, str] = {}
    steps: list[dict[str, str]] = []
    trigger_json: str = ""
    cancel_open: bool = False
    acting: bool = False
    # The tree (issue 11): branches, loop iterations (paged per loop), approvals, child runs.
    tree: list[tree_view.RunNode] = []
    children: list[dict[str, str]] = []
    _tree_input: dict[str, Any] = {}
    _loop_pages: dict[str, int] = {}
    _loop_failed_only: dict[str, bool] = {}

    @rx.var
    def in_flight(self) -> bool:
        return self.run.get("status", "") in IN_FLIGHT

    def _current_run_id(self) -> str:
        path = (self.router.url.path or "").rstrip("/")
        return path.rsplit("/", 1)[-1] if path.startswith("/runs/") else ""

    def _read(self) -> None:
        actor = self.actor()
        run_id = self._current_run_id()
        if actor is None or not run_id:
            return
        try:
            with session_scope() as session:
                run = runs.get_run(session, actor, run_id)
                data = runs.run_public(session, run)
                extras = run_extras(session, actor, run, data, self.workspace_timezone)
        except NotFound:
            self.not_found, self.detail_loading = True, False
            return
        except FlowMateError as exc:
            self.detail_error, self.detail_loading = error_text(exc), False
            return
        except Exception:
            self.detail_error, self.detail_loading = "The run could not be loaded. Try again in a moment.", False
            return
        tz = self.workspace_timezone
        self.not_found, self.detail_error = False, ""
        self.run = {
            "id": data["id"],
            "workflow": data.get("workflow_name") or "Untitled workflow",
            "workflow_id": data["workflow_id"],
            "version": f"v{data['workflow_version']}",
            "status": data["status"],
            "trigger": TRIGGER_LABELS.get(data["trigger_type"], data["trigger_type"]),
            "attempt": str(data.get("attempt") or 0),
            "error": data.get("error") or "",
            "result": data.get("result") or "",
            "rerun_of": data.get("rerun_of") or "",
            "parent_run_id": data.get("parent_run_id") or "",
            "parent_path": data.get("parent_path") or "",
            "warnings": str(data.get("warnings") or 0),
            "created": fmt_time(data["created_at"], tz, seconds=True),
            "started": fmt_time(data["started_at"], tz, seconds=True) if data["started_at"] else "not yet",
            "finished": fmt_time(data["finished_at"], tz, seconds=True) if data["finished_at"] else "—",
            "next_attempt": fmt_time(data["next_attempt_at"], tz, seconds=True) if data["next_attempt_at"] else "",
            "duration": fmt_duration(data["duration_ms"]) if data["duration_ms"] is not None else (
                "running…" if data["status"] in IN_FLIGHT else "—"),
        }
        self.trigger_json = pretty_json(data.get("trigger") or {})
        self.steps = [
            {
                "n": str(i + 1),
                "key": s["key"],
                "action": s["action"],
                "name": s.get("name") or s["key"],
                "status": s["status"],
                "attempts": str(s["attempts"]),
                "attempts_label": "1 attempt" if s["attempts"] == 1 else f"{s['attempts']} attempts",
                "retries": ", ".join(fmt_duration(float(d) * 1000) for d in (s.get("retry_delays") or [])),
                "duration": fmt_duration(s["duration_ms"]) if s["duration_ms"] is not None else "",
                "started": fmt_time(s["started_at"], tz, seconds=True) if s["started_at"] else "",
                "input": pretty_json(s["input"]) if s["input"] is not None else "",
                "output": pretty_json(s["output"]) if s["output"] is not None else "",
                "error": s.get("error") or "",
            }
            for i, s in enumerate(data.get("steps") or [])
        ]
        self._tree_input = {"data": data, **extras}
        self._build_tree()
        self.detail_loading = False

    def _build_tree(self) -> None:
        """Rebuild the tree from the last read (paging or filtering a loop needs no new read)."""
        source = self._tree_input
        data = source.get("data") or {}
        ctx = tree_view.TreeContext(
            approvals=source.get("approvals_by_path") or {}, resume_urls=source.get("resume_urls") or {},
            children={c.get("parent_path") or "": c for c in data.get("children") or []},
            pages=self._loop_pages, failed_only=self._loop_failed_only, tz=self.workspace_timezone)
        self.tree = tree_view.build_tree(source.get("definition") or {}, data.get("steps") or [], ctx)
        self.children = [{"id": c["id"], "short_id": c["id"][:8], "status": c["status"],
                          "workflow": c.get("workflow_name") or "Untitled workflow", "path": c.get("parent_path") or ""}
                         for c in data.get("children") or []]

    @rx.event
    def set_loop_page(self, loop_path: str, page: int) -> None:
        self._loop_pages = {**self._loop_pages, loop_path: max(1, int(page))}
        self._build_tree()

    @rx.event
    def set_failed_only(self, loop_path: str, value: bool) -> None:
        self._loop_failed_only = {**self._loop_failed_only, loop_path: bool(value)}
        self._loop_pages = {**self._loop_pages, loop_path: 1}
        self._build_tree()

    @rx.event
    def copy_resume_url(self, url: str) -> Any:
        return [rx.set_clipboard(url), rx.toast.success("Resume URL copied")]

    @rx.event
    def refresh(self) -> None:
        """Re-read now (after an approval decided in place)."""
        self._read()

    @rx.event
    def load(self) -> None:
        self.detail_loading, self.not_found, self.detail_error = True, False, ""
        self.run, self.steps, self.trigger_json, self.cancel_open = {}, [], "", False
        self.tree, self.children, self._tree_input, self._loop_pages, self._loop_failed_only = [], [], {}, {}, {}
        self._read()

    @rx.event
    def poll(self, _tick: str = "") -> None:
        """Re-read while the run is in flight; a finished run never changes, so stop reading."""
        if self.user_email and self.run and self.run.get("status") in IN_FLIGHT:
            self._read()

    @rx.event(background=True)
    async def follow(self) -> None:
        """Live: re-read when this run or one of its steps changes (flowmate_app/live.py)."""
        await live.follow(self, lambda s: s.user_email and s.run.get("status") in IN_FLIGHT and s._read(),
                          run_id=lambda s: s._current_run_id())

    @rx.event
    def rerun(self) -> Any:
        actor = self.actor()
        if actor is None or not self.run:
            return None
        self.acting = True
        try:
            new = runs.rerun(actor, self.run["id"])
        except FlowMateError as exc:
            self.acting = False
            return rx.toast.error(error_text(exc))
        self.acting = False
        return [rx.toast.success("Re-run started"), rx.redirect(f"/runs/{new.id}")]

    @rx.event
    def set_cancel_open(self, value: bool) -> None:
        self.cancel_open = value

    @rx.event
    def cancel(self) -> Any:
        actor = self.actor()
        self.cancel_open = False
        if actor is None or not self.run:
            return None
        try:
            with session_scope() as session:
                runs.cancel_run(session, actor, self.run["id"])
        except FlowMateError as exc:
            self._read()
            return rx.toast.error(error_text(exc))
        self._read()
        return rx.toast.success("Run cancelled")


def run_extras(session: Any, actor: Any, run: Any, data: dict[str, Any], tz: str) -> dict[str, Any]:
    """What the tree needs besides the run document: the definition snapshot the run executes,
    its approvals by step path (for deciding in place) and the resume URLs of waiting event steps."""
    from engine.definition import WAIT_ACTION
    from engine.services import approvals, waits
    from flowmate_app.features.approvals.views import approval_view

    by_path: dict[str, list[Any]] = {}
    for item in approvals.for_run(session, actor, run.id):
        if item.status == "pending":
            by_path.setdefault(item.step_path, []).append(approval_view(item.model_dump(), Role(actor.role).value, tz))
    resume_urls = {}
    for step in data.get("steps") or []:
        if step["action"] == WAIT_ACTION and step["status"] == "running":
            url = waits.resume_url(session, actor, run.id, step["path"])
            if url:
                resume_urls[step["path"]] = url
    return {"definition": dict(run.definition or {}), "approvals_by_path": by_path, "resume_urls": resume_urls}
