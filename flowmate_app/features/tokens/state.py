"""/tokens: the workspace's API tokens. Admins and owners create and revoke them.

A new token's value is shown once, in a dialog with a copy button; afterwards only its prefix
is ever shown (the database keeps a hash).
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from engine.db import session_scope
from engine.errors import FlowMateError, ValidationFailed
from engine.services import accounts
from engine.services.actor import Actor
from flowmate_app.auth import AuthState, error_text
from flowmate_app.formatting import fmt_time
from flowmate_app.state_helpers import ConfirmDeleteMixin

EXPIRY_CHOICES = [("never", "Never"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]
ROLE_ORDER = ["viewer", "editor", "admin", "owner"]


class TokensState(ConfirmDeleteMixin, AuthState):
    tokens_loading: bool = True
    tokens_error: str = ""
    tokens: list[dict[str, str]] = []
    new_role: str = "editor"
    new_expiry: str = "90"
    create_error: str = ""
    creating: bool = False
    created_token: str = ""
    created_open: bool = False
    # Revoking: ConfirmDeleteMixin (confirm_name holds the token's name).

    @rx.var
    def token_roles(self) -> list[str]:
        """A token's role is never above its creator's."""
        rank = ROLE_ORDER.index(self.role) if self.role in ROLE_ORDER else -1
        return [r for r in reversed(ROLE_ORDER) if ROLE_ORDER.index(r) <= rank]

    @rx.var
    def expiry_choices(self) -> list[dict[str, str]]:
        return [{"value": v, "label": label} for v, label in EXPIRY_CHOICES]

    @rx.event
    def load(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        if not self.is_admin:
            self.tokens, self.tokens_loading, self.tokens_error = [], False, ""
            return
        try:
            with session_scope() as session:
                items = accounts.list_tokens(session, actor)
        except FlowMateError as exc:
            self.tokens_error, self.tokens_loading = error_text(exc), False
            return
        tz = self.workspace_timezone
        self.tokens = [
            {"id": t["id"], "name": t["name"] or "(no name)", "role": t["role"], "prefix": t["prefix"] + "…",
             "created": fmt_time(t["created_at"], tz), "created_by": (t["created_by"] or "").split(":", 1)[-1],
             "last_used": fmt_time(t["last_used_at"], tz) if t["last_used_at"] else "never",
             "expires": fmt_time(t["expires_at"], tz) if t["expires_at"] else "never",
             "revoked": "true" if t["revoked"] else ""}
            for t in items
        ]
        self.tokens_error, self.tokens_loading = "", False

    @rx.event
    def set_new_role(self, value: str) -> None:
        self.new_role = value

    @rx.event
    def set_new_expiry(self, value: str) -> None:
        self.new_expiry = value

    @rx.event
    def set_created_open(self, value: bool) -> None:
        self.created_open = value
        if not value:
            self.created_token = ""  # gone from the page (and from this state) once the dialog closes

    @rx.event
    def create(self, form: dict[str, Any]) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        name = str(form.get("name") or "").strip()
        if not name:
            self.create_error = "Give the token a name, e.g. the script or system that will use it."
            return None
        days = None if self.new_expiry == "never" else int(self.new_expiry)
        self.creating = True
        try:
            with session_scope() as session:
                _token, clear = accounts.create_token(session, actor, role=self.new_role, name=name,
                                                      expires_in_days=days)
        except ValidationFailed as exc:
            self.creating, self.create_error = False, error_text(exc)
            return None
        except FlowMateError as exc:
            self.creating, self.create_error = False, error_text(exc)
            return None
        self.creating, self.create_error = False, ""
        self.created_token, self.created_open = clear, True
        self.load()
        return rx.set_value("token-name", "")

    @rx.event
    def copy_token(self) -> Any:
        return [rx.set_clipboard(self.created_token), rx.toast.success("Token copied")]

    def _delete(self, session: Session, actor: Actor, item_id: str) -> None:
        accounts.revoke_token(session, actor, item_id)

    def _deleted(self) -> Any:
        self.load()
        return rx.toast.success(f"Revoked {self.confirm_name}: it stops working at once")
