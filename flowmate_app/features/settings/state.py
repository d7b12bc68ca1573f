"""Workspace settings and members. Admins and owners change them; everyone else reads them.

The services (engine.services.workspaces) enforce the roles; the pages disable the controls for
people who cannot use them and say why.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from engine.db import session_scope
from engine.errors import FlowMateError, ValidationFailed
from engine.services import invitations
from engine.services import workspaces as svc
from engine.services.actor import Actor
from flowmate_app.auth import AuthState, error_text, plain_method
from flowmate_app.formatting import fmt_time
from flowmate_app.state_helpers import ConfirmDeleteMixin

COMMON_TIMEZONES = [
    "Australia/Sydney", "Australia/Melbourne", "Australia/Brisbane", "Australia/Adelaide", "Australia/Darwin",
    "Australia/Perth", "Australia/Hobart", "Australia/Lord_Howe", "Pacific/Auckland", "Asia/Singapore",
    "Asia/Tokyo", "Europe/London", "America/Los_Angeles", "America/New_York", "UTC",
]
ROLE_HELP = {
    "owner": "Everything, including managing owners",
    "admin": "Manage members and settings",
    "editor": "Build and run workflows, manage connections",
    "viewer": "See everything, change nothing",
}


class SettingsState(AuthState):
    settings_loading: bool = True
    settings_error: str = ""
    ws_name: str = ""
    ws_slug: str = ""
    ws_timezone: str = "Australia/Sydney"
    ws_region: str = "au"
    ws_retention: str = "30"
    field_errors: dict[str, str] = {}
    saving: bool = False

    @rx.var
    def timezone_options(self) -> list[str]:
        zones = list(COMMON_TIMEZONES)
        if self.ws_timezone and self.ws_timezone not in zones:
            zones.insert(0, self.ws_timezone)
        return zones

    @rx.var
    def region_options(self) -> list[dict[str, str]]:
        return [{"value": k, "label": v} for k, v in svc.DATA_REGIONS.items()]

    @rx.event
    def load(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                ws = svc.workspace_public(svc.get_workspace(session, actor))
        except FlowMateError as exc:
            self.settings_error, self.settings_loading = error_text(exc), False
            return
        self.ws_name, self.ws_slug, self.ws_timezone = ws["name"], ws["slug"], ws["timezone"]
        self.ws_region, self.ws_retention = ws["data_region"], str(ws["retention_days"])
        self.settings_error, self.field_errors, self.settings_loading = "", {}, False

    @rx.event
    def set_ws_timezone(self, value: str) -> None:
        self.ws_timezone = value

    @rx.event
    def set_ws_region(self, value: str) -> None:
        self.ws_region = value

    @rx.event
    def save(self, form: dict[str, Any]) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        changes = {"name": str(form.get("name") or ""), "timezone": self.ws_timezone,
                   "data_region": self.ws_region, "retention_days": str(form.get("retention_days") or "")}
        self.saving = True
        try:
            with session_scope() as session:
                svc.update_settings(session, actor, changes)
        except ValidationFailed as exc:
            self.saving, self.field_errors = False, dict(exc.fields)
            return rx.toast.error(exc.message)
        except FlowMateError as exc:
            self.saving = False
            return rx.toast.error(error_text(exc))
        self.saving, self.field_errors = False, {}
        self._load_identity()  # the header shows the workspace name
        self.load()
        return rx.toast.success("Settings saved")


class MembersState(ConfirmDeleteMixin, AuthState):
    members_loading: bool = True
    members_error: str = ""
    members: list[dict[str, str]] = []
    add_error: str = ""
    add_role: str = "editor"
    adding: bool = False
    invitations: list[dict[str, str]] = []
    # Sign-in rules (engine.services.sso_policy)
    policy_domains: str = ""
    policy_role: str = "viewer"
    policy_require_sso: bool = False
    policy_require_mfa: bool = False
    policy_error: str = ""
    policy_saving: bool = False
    sso_providers: str = ""  # names of the configured sign-in providers, "" when none
    # Removing a member: ConfirmDeleteMixin (confirm_name holds the email).

    @rx.var
    def role_help(self) -> dict[str, str]:
        return ROLE_HELP

    @rx.event
    def load(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                items = svc.list_members(session, actor)
        except FlowMateError as exc:
            self.members_error, self.members_loading = error_text(exc), False
            return
        self.members = [
            {"user_id": m["user_id"], "email": m["email"], "name": m["name"] or m["email"].split("@")[0],
             "role": m["role"], "since": fmt_time(m["since"], self.workspace_timezone),
             "is_you": "true" if m["is_you"] else "",
             "initials": "".join(p[0] for p in (m["name"] or m["email"]).replace("@", " ").split()[:2]).upper()}
            for m in items
        ]
        self.members_error, self.members_loading = "", False
        try:
            self.load_invitations(actor)
            self.load_policy(actor)
        except FlowMateError as exc:
            self.members_error = error_text(exc)

    @rx.event
    def set_add_role(self, value: str) -> None:
        self.add_role = value

    @rx.var
    def invite_roles(self) -> list[str]:
        """Roles this person may hand out: never above their own (an admin cannot invite an owner)."""
        order = ["viewer", "editor", "admin", "owner"]
        rank = order.index(self.role) if self.role in order else -1
        return [r for r in reversed(order) if order.index(r) <= rank]

    @plain_method
    def load_invitations(self, actor: Actor) -> None:
        if not self.is_admin:
            self.invitations = []
            return
        with session_scope() as session:
            items = invitations.list_invitations(session, actor)
        self.invitations = [
            {"id": i["id"], "email": i["email"], "role": i["role"], "invited_by": i["invited_by"],
             "sent": fmt_time(i["last_sent_at"] or i["created_at"], self.workspace_timezone),
             "expires": fmt_time(i["expires_at"], self.workspace_timezone),
             "expired": "true" if i["expired"] else "", "sent_count": str(i["sent_count"])}
            for i in items
        ]

    @plain_method
    def load_policy(self, actor: Actor) -> None:
        from engine.services import oidc, sso_policy

        with session_scope() as session:
            row = sso_policy.get_policy(session, actor.workspace_id)
            policy = sso_policy.policy_public(row)
            self.policy_require_mfa = bool(row.require_mfa)
        self.policy_domains = ", ".join(policy["allowed_domains"])
        self.policy_role, self.policy_require_sso = policy["auto_join_role"], policy["require_sso"]
        self.sso_providers = ", ".join(p.name for p in oidc.configured_providers())
        self.policy_error = ""

    @rx.event
    def set_policy_role(self, value: str) -> None:
        self.policy_role = value

    @rx.event
    def set_policy_require_sso(self, value: bool) -> None:
        self.policy_require_sso = value

    @rx.event
    def set_policy_require_mfa(self, value: bool) -> None:
        self.policy_require_mfa = value

    @rx.event
    def save_policy(self, form: dict[str, Any]) -> Any:
        from engine.services import mfa, sso_policy

        actor = self.actor()
        if actor is None:
            return None
        self.policy_saving = True
        try:
            with session_scope() as session:
                sso_policy.update_policy(session, actor, allowed_domains=str(form.get("domains") or ""),
                                         auto_join_role=self.policy_role,
                                         require_sso=self.policy_require_sso)
                if self.role == "owner":
                    mfa.set_workspace_requirement(session, actor, self.policy_require_mfa)
        except FlowMateError as exc:
            self.policy_saving, self.policy_error = False, error_text(exc)
            return None
        self.policy_saving = False
        self.load_policy(actor)
        return rx.toast.success("Sign-in rules saved")

    @rx.event
    def invite(self, form: dict[str, Any]) -> Any:
        """Email an invitation link; the person signs up or joins with their existing account."""
        actor = self.actor()
        if actor is None:
            return None
        email = str(form.get("email") or "").strip()
        if not email:
            self.add_error = "Enter the email address to invite."
            return None
        if self.add_role not in self.invite_roles:
            self.add_role = "editor" if "editor" in self.invite_roles else self.invite_roles[-1]
        self.adding = True
        try:
            with session_scope() as session:
                inv, _link = invitations.invite(session, actor, email, self.add_role)
                sent_to, role = inv.email, inv.role
                unconfirmed = invitations.invitee_unconfirmed(session, inv.email)
        except ValidationFailed as exc:
            self.adding = False
            detail = next(iter(exc.fields.values()), "")
            self.add_error = f"{exc.message}: {detail}" if detail else exc.message
            return None
        except FlowMateError as exc:
            self.adding, self.add_error = False, error_text(exc)
            return None
        self.adding, self.add_error = False, ""
        self.load_invitations(actor)
        note = " They must confirm their email address with FlowMate before they can join." if unconfirmed else ""
        return [rx.toast.success(f"Invitation sent to {sent_to} as {role}.{note}"), rx.set_value("member-email", "")]

    @rx.event
    def resend_invitation(self, invitation_id: str) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        try:
            with session_scope() as session:
                invitations.resend(session, actor, invitation_id)
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        self.load_invitations(actor)
        return rx.toast.success("A new link was sent; the previous one no longer works")

    @rx.event
    def revoke_invitation(self, invitation_id: str) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        try:
            with session_scope() as session:
                invitations.revoke(session, actor, invitation_id)
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        self.load_invitations(actor)
        return rx.toast.success("Invitation revoked: its link no longer works")

    @rx.event
    def change_role(self, user_id: str, role: str) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        try:
            with session_scope() as session:
                svc.set_member_role(session, actor, user_id, role)
        except FlowMateError as exc:
            self.load()
            return rx.toast.error(error_text(exc))
        self.load()
        self._load_identity()
        return rx.toast.success(f"Role changed to {role}")

    def _delete(self, session: Session, actor: Actor, item_id: str) -> None:
        svc.remove_member(session, actor, item_id)

    def _deleted(self) -> Any:
        self.load()
        return rx.toast.success(f"Removed {self.confirm_name}")
