"""The bell's state: one small substate (Reflex's scaling guidance: its events send only this).

"Seen" is the time of the member's last "Mark all as seen", kept in the browser's local storage
(``rx.LocalStorage``) as a JSON object keyed "user id:workspace id", so it is per member per
workspace with no table or migration; another browser starts from the last 7 days again (see
engine.services.notifications). The count follows the bus like the dashboard does
(flowmate_app/live.py): a run of the workspace changing re-reads it, and every 30 s anyway.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import reflex as rx

from flowmate_app import live
from flowmate_app.auth import AuthState
from flowmate_app.features.notifications.read import read_bell


class NotificationBellState(AuthState):
    bell_seen: str = rx.LocalStorage("{}", name="flowmate_bell_seen", sync=True)
    unseen_count: int = 0
    bell_items: list[dict[str, str]] = []
    bell_open: bool = False

    def _seen_map(self) -> dict[str, str]:
        try:
            data = json.loads(self.bell_seen or "{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _refresh(self) -> None:
        actor = self.actor()
        if actor is None:
            self.unseen_count, self.bell_items = 0, []
            return
        try:
            seen = str(self._seen_map().get(f"{actor.user_id}:{actor.workspace_id}", ""))
            self.unseen_count, self.bell_items = read_bell(actor, seen)
        except Exception:  # noqa: BLE001 - a bell never breaks a page; the next change re-reads
            pass

    @rx.event
    def refresh_bell(self) -> None:
        self._refresh()

    @rx.event
    def set_bell_open(self, is_open: bool) -> None:
        self.bell_open = is_open
        if is_open:
            self._refresh()

    @rx.event
    def mark_all_seen(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        seen = self._seen_map()
        seen[f"{actor.user_id}:{actor.workspace_id}"] = datetime.now(UTC).isoformat()
        self.bell_seen = json.dumps(seen)
        self._refresh()

    @rx.event(background=True)
    async def follow_bell(self) -> None:
        """Live: re-count when a run of this workspace changes (flowmate_app/live.py)."""
        await live.follow(self, lambda s: s.user_email and s._refresh(), kinds=("run",), min_gap_s=0.5)
