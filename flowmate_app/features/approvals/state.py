"""Approvals: flow.approval steps waiting for a person (issue 11).

Three small states (Reflex's scaling guidance: an event loads and sends only the state it
touches): the sidebar's count, the /approvals list with its pages, and the decision itself
(comment boxes, errors, the busy row), which the run page reuses to decide in place. Every
read and write goes through engine.services.approvals (role checks, audit row, waking the run).
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from engine.db import session_scope
from engine.errors import Conflict, FlowMateError, Forbidden, NotFound, ValidationFailed
from engine.models import Role
from engine.services import approvals
from flowmate_app.auth import AuthState, error_text
from flowmate_app.features.approvals.views import ApprovalView, approval_view

PAGE_SIZE = 20
#: How often an open page re-counts pending approvals for the sidebar badge.
BADGE_POLL_MS = 15_000


class ApprovalBadgeState(AuthState):
    """The count next to "Approvals" in the sidebar."""

    pending_approvals: int = 0

    @rx.event
    def refresh_badge(self, _tick: str = "") -> None:
        actor = self.actor()
        if actor is None:
            self.pending_approvals = 0
            return
        try:
            with session_scope() as session:
                self.pending_approvals = approvals.count_pending(session, actor)
        except FlowMateError:
            pass  # a badge never breaks a page


class ApprovalsState(AuthState):
    """The /approvals list: pending approvals this member may decide, keyset pages."""

    loading: bool = True
    load_error: str = ""
    items: list[ApprovalView] = []
    cursor_stack: list[str] = []
    cursor: str = ""
    next_cursor: str = ""

    @rx.var
    def page_number(self) -> int:
        return len(self.cursor_stack) + 1

    def _reload(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                # A viewer decides nothing, so sees every pending approval read-only instead.
                lister = approvals.list_visible if self.role == Role.viewer.value else approvals.list_pending
                page = lister(session, actor, cursor=self.cursor or None, limit=PAGE_SIZE)
        except FlowMateError as exc:
            self.load_error, self.loading = error_text(exc), False
            return
        except Exception:
            self.load_error, self.loading = "The approvals could not be loaded. Try again in a moment.", False
            return
        self.items = [approval_view(item.model_dump(), self.role, self.workspace_timezone) for item in page.items]
        self.next_cursor = page.next_cursor or ""
        self.load_error, self.loading = "", False

    @rx.event
    def load(self) -> None:
        self.loading, self.cursor, self.cursor_stack = True, "", []
        self._reload()

    @rx.event
    def reload(self) -> None:
        self._reload()

    @rx.event
    def older(self) -> None:
        if self.next_cursor:
            self.cursor_stack = [*self.cursor_stack, self.cursor]
            self.cursor = self.next_cursor
            self._reload()

    @rx.event
    def newer(self) -> None:
        if self.cursor_stack:
            self.cursor = self.cursor_stack[-1]
            self.cursor_stack = self.cursor_stack[:-1]
            self._reload()


class ApprovalDecisionState(AuthState):
    """Approve or reject with a comment, from the Approvals page or in place on a run page."""

    comments: dict[str, str] = {}
    decision_errors: dict[str, str] = {}
    deciding: str = ""

    @rx.event
    def set_comment(self, approval_id: str, value: str) -> None:
        self.comments = {**self.comments, approval_id: value}
        if approval_id in self.decision_errors:
            self.decision_errors = {k: v for k, v in self.decision_errors.items() if k != approval_id}

    @rx.event
    def decide(self, approval_id: str, approved: bool, where: str = "approvals") -> Any:
        """``where`` says which page to refresh afterwards: ``approvals`` or ``run``."""
        actor = self.actor()
        if actor is None or self.deciding:
            return None
        self.deciding = approval_id
        try:
            with session_scope() as session:
                decided = approvals.decide(session, actor, approval_id, approved=bool(approved),
                                           comment=self.comments.get(approval_id) or None)
        except ValidationFailed as exc:
            message = "; ".join(exc.fields.values()) or str(exc)
            return self._failed(approval_id, f"Comment: {message}")
        except Forbidden as exc:
            return self._failed(approval_id, f"You cannot decide this approval: {error_text(exc)}")
        except Conflict as exc:
            return self._failed(approval_id, error_text(exc)[:1].upper() + error_text(exc)[1:] + ".", refresh=where)
        except NotFound:
            return self._failed(approval_id, "This approval no longer exists (its run may have been deleted).",
                                refresh=where)
        except FlowMateError as exc:
            return self._failed(approval_id, error_text(exc))
        self.deciding = ""
        self.comments = {k: v for k, v in self.comments.items() if k != approval_id}
        verb = "Approved" if decided.status == "approved" else "Rejected"
        return [rx.toast.success(f"{verb}: the run goes on" if approved else f"{verb}"),
                ApprovalBadgeState.refresh_badge, *_refresh(where)]

    def _failed(self, approval_id: str, message: str, refresh: str = "") -> Any:
        self.deciding = ""
        self.decision_errors = {**self.decision_errors, approval_id: message}
        return [rx.toast.error(message), *(_refresh(refresh) if refresh else [])]


def _refresh(where: str) -> list[Any]:
    if where == "run":
        # Function-local: the run page imports this feature's components, not the other way round.
        from flowmate_app.features.runs.state import RunDetailState

        return [RunDetailState.refresh]
    return [ApprovalsState.reload]
