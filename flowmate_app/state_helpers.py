"""State pieces more than one feature shares.

``ConfirmDeleteMixin`` is the ask-then-delete flow behind every destructive list action: a row's
button calls ``ask_delete(id, name)``, the page's confirm dialog is bound to ``confirm_open`` /
``set_confirm_open`` and its action to ``delete_confirmed``.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from engine.db import session_scope
from engine.errors import FlowMateError
from engine.services.actor import Actor
from flowmate_app.auth import error_text


class ConfirmDeleteMixin(rx.State, mixin=True):
    """Confirm, then delete one item through the services and answer with a toast.

    Mix it into an ``AuthState`` subclass (it calls ``self.actor()``), listed before AuthState:
    ``class ConnectionsState(ConfirmDeleteMixin, AuthState)``. The host implements ``_delete``
    (the service call) and ``_deleted`` (refresh what the page shows; return the success toast).
    """

    confirm_open: bool = False
    confirm_id: str = ""
    confirm_name: str = ""

    def _delete(self, session: Session, actor: Actor, item_id: str) -> None:
        raise NotImplementedError

    def _deleted(self) -> Any:
        raise NotImplementedError

    @rx.event
    def ask_delete(self, item_id: str, name: str) -> None:
        self.confirm_id, self.confirm_name, self.confirm_open = item_id, name, True

    @rx.event
    def set_confirm_open(self, value: bool) -> None:
        self.confirm_open = value

    @rx.event
    def delete_confirmed(self) -> Any:
        actor = self.actor()  # type: ignore[attr-defined]  # provided by AuthState
        self.confirm_open = False
        if actor is None or not self.confirm_id:
            return None
        try:
            with session_scope() as session:
                self._delete(session, actor, self.confirm_id)
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        return self._deleted()
