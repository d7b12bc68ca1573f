"""/settings (workspace name, time zone, data region, retention) and /members."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import (
    confirm_dialog,
    error_callout,
    form_error,
    list_states,
    loading_rows,
    section_card,
)
from flowmate_app.features.settings.state import MembersState as M
from flowmate_app.features.settings.state import SettingsState as S

ROLES = ["owner", "admin", "editor", "viewer"]


def labelled(label: str, control: rx.Component, hint: str | rx.Var = "", error: rx.Var | None = None,
             html_for: str = "") -> rx.Component:
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=html_for),
        control,
        *([rx.text(hint, size="1", color=rx.color("gray", 10))] if hint else []),
        *([rx.cond(error != "", rx.text(error, size="1", color=rx.color("red", 11)))] if error is not None else []),
        spacing="1",
        width="100%",
    )


def admin_notice() -> rx.Component:
    return rx.cond(
        AuthState.is_admin,
        rx.fragment(),
        rx.callout("Only admins and owners can change these settings.", icon="lock", color_scheme="gray",
                   variant="surface", size="1", width="100%", id="viewer-notice"),
    )


def settings_form() -> rx.Component:
    locked = ~AuthState.is_admin
    return rx.form(
        rx.vstack(
            section_card(
                "Workspace",
                labelled("Name", rx.input(name="name", id="ws-name", default_value=S.ws_name, required=True,
                                          max_length=200, disabled=locked, width="100%", key=S.ws_slug),
                         "Shown in the header and in emails FlowMate sends you.", S.field_errors.get("name", ""),
                         "ws-name"),
                labelled("Workspace ID", rx.code(S.ws_slug, size="2"), "Used by the CLI (--workspace)."),
            ),
            section_card(
                "Time and data",
                labelled(
                    "Time zone",
                    rx.select.root(
                        rx.select.trigger(width="100%", id="ws-timezone"),
                        rx.select.content(rx.foreach(S.timezone_options, lambda z: rx.select.item(z, value=z))),
                        value=S.ws_timezone,
                        on_change=S.set_ws_timezone,
                        disabled=locked,
                    ),
                    "Dates on every page and the dashboard's days use this zone.",
                    S.field_errors.get("timezone", ""),
                    "ws-timezone",
                ),
                labelled(
                    "Data region",
                    rx.select.root(
                        rx.select.trigger(width="100%", id="ws-region"),
                        rx.select.content(rx.foreach(S.region_options,
                                                     lambda r: rx.select.item(r["label"], value=r["value"]))),
                        value=S.ws_region,
                        on_change=S.set_ws_region,
                        disabled=locked,
                    ),
                    "Where this workspace's run data is meant to be stored and processed.",
                    S.field_errors.get("data_region", ""),
                    "ws-region",
                ),
                labelled(
                    "Keep run history for (days)",
                    rx.input(name="retention_days", id="ws-retention", type="number", min=1, max=3650,
                             default_value=S.ws_retention, disabled=locked, width="10rem", key=S.ws_slug),
                    "Older runs and their step data are deleted automatically.",
                    S.field_errors.get("retention_days", ""),
                    "ws-retention",
                ),
            ),
            rx.cond(
                AuthState.is_admin,
                rx.flex(rx.button("Save settings", type="submit", loading=S.saving, id="settings-save"),
                        justify="end", width="100%"),
            ),
            spacing="4",
            width="100%",
            max_width="40rem",
        ),
        on_submit=S.save,
        reset_on_submit=False,
    )


def settings_page() -> rx.Component:
    return layout(
        page_heading(
            "Settings",
            "Workspace, members and preferences.",
            rx.link(rx.button(rx.icon("users", size=16), "Members", variant="soft"), href="/members"),
            rx.link(rx.button(rx.icon("database", size=16), "Data", variant="soft"), href="/settings/data"),
        ),
        admin_notice(),
        rx.cond(
            S.settings_error != "",
            error_callout(S.settings_error, S.load),
            rx.cond(S.settings_loading, loading_rows(3, "8rem"), settings_form()),
        ),
        title="Settings",
        active="/settings",
    )


# ------------------------------------------------------------------------------------ members


def member_row(m: rx.Var) -> rx.Component:
    return rx.flex(
        rx.hstack(
            rx.avatar(fallback=m["initials"], size="3", radius="full"),
            rx.vstack(
                rx.hstack(
                    rx.text(m["name"], size="2", weight="medium"),
                    rx.cond(m["is_you"] != "", rx.badge("you", size="1", variant="soft")),
                    spacing="2",
                    align="center",
                ),
                rx.text(m["email"], size="1", color=rx.color("gray", 11), word_break="break-all"),
                rx.text("Member since " + m["since"], size="1", color=rx.color("gray", 10)),
                spacing="0",
                min_width="0",
            ),
            spacing="3",
            align="center",
            flex="1",
            min_width="0",
        ),
        rx.hstack(
            rx.select.root(
                rx.select.trigger(aria_label="Role of " + m["email"], width="8rem"),
                rx.select.content(*[rx.select.item(r.capitalize(), value=r) for r in ROLES]),
                value=m["role"],
                on_change=lambda role: M.change_role(m["user_id"], role),
                disabled=~AuthState.is_admin,
            ),
            rx.cond(
                AuthState.is_admin & (m["is_you"] == ""),
                rx.icon_button(rx.icon("user_minus", size=14), variant="soft", color_scheme="red",
                               aria_label="Remove " + m["email"], on_click=M.ask_delete(m["user_id"], m["email"])),
            ),
            spacing="2",
            align="center",
        ),
        direction=rx.breakpoints(initial="column", sm="row"),
        align=rx.breakpoints(initial="stretch", sm="center"),
        gap="3",
        padding="0.75rem 1rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        class_name="member-row",
    )


def add_member_form() -> rx.Component:
    """Invite by email: the link lets them sign up, or join with the account they already have."""
    return section_card(
        "Invite people",
        rx.text("We email them a link that works once for 7 days. New people create their account through it; "
                "people who already use FlowMate join with their account.", size="2", color=rx.color("gray", 11)),
        rx.form(
            rx.flex(
                rx.input(name="email", id="member-email", type="email", placeholder="colleague@business.com.au",
                         required=True, aria_label="Email of the person to invite", flex="1", min_width="12rem"),
                rx.select.root(
                    rx.select.trigger(aria_label="Role for the invited person", width="9rem", id="invite-role"),
                    rx.select.content(rx.foreach(M.invite_roles, lambda r: rx.select.item(r.capitalize(), value=r))),
                    value=M.add_role,
                    on_change=M.set_add_role,
                ),
                rx.button(rx.icon("send", size=14), "Send invitation", type="submit", loading=M.adding,
                          id="invite-send"),
                gap="2",
                wrap="wrap",
                width="100%",
            ),
            on_submit=M.invite,
            reset_on_submit=False,
            width="100%",
        ),
        rx.text(M.role_help[M.add_role], size="1", color=rx.color("gray", 10)),
        form_error(M.add_error, "member-error"),
    )


def invitation_row(inv: rx.Var) -> rx.Component:
    return rx.flex(
        rx.hstack(
            rx.avatar(fallback=inv["email"].to(str)[0:1].upper(), size="3", radius="full", variant="soft",
                      color_scheme="gray"),
            rx.vstack(
                rx.hstack(
                    rx.text(inv["email"], size="2", weight="medium", word_break="break-all"),
                    rx.badge(inv["role"], size="1", variant="soft"),
                    rx.cond(inv["expired"] != "", rx.badge("expired", size="1", color_scheme="amber"),
                            rx.badge("pending", size="1", color_scheme="gray")),
                    spacing="2", align="center", wrap="wrap",
                ),
                rx.text("Invited by " + inv["invited_by"] + " · sent " + inv["sent"] + " · link valid until "
                        + inv["expires"], size="1", color=rx.color("gray", 10)),
                spacing="0", min_width="0",
            ),
            spacing="3", align="center", flex="1", min_width="0",
        ),
        rx.hstack(
            rx.button(rx.icon("refresh_cw", size=14), "Resend", size="1", variant="soft",
                      aria_label="Resend the invitation to " + inv["email"],
                      on_click=M.resend_invitation(inv["id"])),
            rx.button(rx.icon("x", size=14), "Revoke", size="1", variant="soft", color_scheme="red",
                      aria_label="Revoke the invitation of " + inv["email"],
                      on_click=M.revoke_invitation(inv["id"])),
            spacing="2",
        ),
        direction=rx.breakpoints(initial="column", sm="row"),
        align=rx.breakpoints(initial="stretch", sm="center"),
        gap="3",
        padding="0.75rem 1rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        class_name="invitation-row",
    )


def pending_invitations() -> rx.Component:
    return rx.cond(
        AuthState.is_admin & (M.invitations.length() > 0),
        rx.vstack(
            rx.heading("Pending invitations", as_="h2", size="3"),
            rx.card(rx.foreach(M.invitations, invitation_row), size="1", padding="0", overflow="hidden",
                    width="100%", id="invitation-list"),
            spacing="2",
            width="100%",
        ),
    )


def sign_in_rules() -> rx.Component:
    """Domains that join through SSO with a default role, and the owner's "require SSO" switch."""
    owner = AuthState.role == "owner"
    return section_card(
        "Sign-in rules",
        rx.cond(M.sso_providers == "",
                rx.text("No single sign-on provider is configured on this server (FLOWMATE_OIDC_*), so these "
                        "rules have no effect yet.", size="2", color=rx.color("amber", 11)),
                rx.text("Sign-in providers on this server: " + M.sso_providers + ".", size="2",
                        color=rx.color("gray", 11))),
        rx.form(
            rx.vstack(
                labelled("Email domains that join automatically",
                         rx.input(name="domains", id="policy-domains", default_value=M.policy_domains,
                                  key=M.policy_domains, placeholder="bondibakery.com.au", width="100%"),
                         "Anyone who signs in with a provider that has verified an address at one of these domains "
                         "(comma-separated) joins this workspace.", html_for="policy-domains"),
                labelled("They join as",
                         rx.select.root(
                             rx.select.trigger(id="policy-role", width="10rem"),
                             rx.select.content(*[rx.select.item(r.capitalize(), value=r)
                                                 for r in ("admin", "editor", "viewer")]),
                             value=M.policy_role, on_change=M.set_policy_role,
                         )),
                rx.hstack(
                    rx.switch(checked=M.policy_require_sso, on_change=M.set_policy_require_sso, disabled=~owner,
                              id="policy-require-sso", name="require_sso"),
                    rx.vstack(
                        rx.text("Require single sign-on", size="2", weight="medium"),
                        rx.text(rx.cond(owner, "Members can no longer log in with a password; they use a sign-in "
                                               "button.", "Only owners can change this."),
                                size="1", color=rx.color("gray", 10)),
                        spacing="0",
                    ),
                    spacing="3", align="center",
                ),
                rx.hstack(
                    rx.switch(checked=M.policy_require_mfa, on_change=M.set_policy_require_mfa, disabled=~owner,
                              id="policy-require-mfa", name="require_mfa"),
                    rx.vstack(
                        rx.text("Require two-factor authentication", size="2", weight="medium"),
                        rx.text(rx.cond(owner, "Members without it set it up at their next login and cannot use "
                                               "this workspace until they do. Turn it on for yourself first "
                                               "(Account page).", "Only owners can change this."),
                                size="1", color=rx.color("gray", 10)),
                        spacing="0",
                    ),
                    spacing="3", align="center",
                ),
                form_error(M.policy_error, "policy-error"),
                rx.flex(rx.button("Save sign-in rules", type="submit", loading=M.policy_saving, id="policy-save"),
                        justify="end", width="100%"),
                spacing="3", width="100%",
            ),
            on_submit=M.save_policy,
            reset_on_submit=False,
            width="100%",
        ),
    )


def remove_dialog() -> rx.Component:
    return confirm_dialog(
        "Remove member?", M.confirm_name, " loses access to this workspace. Their account stays; you can add them "
        "again later.",
        confirm_label="Remove", on_confirm=M.delete_confirmed, open=M.confirm_open, on_open_change=M.set_confirm_open,
    )


def members_page() -> rx.Component:
    return layout(
        page_heading("Members", "Who can see and change this workspace."),
        rx.vstack(
            rx.cond(AuthState.is_admin, add_member_form(),
                    rx.callout("Only admins and owners can add members or change roles.", icon="lock",
                               color_scheme="gray", variant="surface", size="1", width="100%", id="viewer-notice")),
            pending_invitations(),
            rx.cond(AuthState.is_admin, sign_in_rules()),
            list_states(
                M.members_loading, M.members_error, M.members.length() == 0, M.load,
                rx.text("No members.", size="2"),
                rx.card(rx.foreach(M.members, member_row), size="1", padding="0", overflow="hidden", width="100%",
                        id="member-list"),
            ),
            spacing="4",
            width="100%",
        ),
        remove_dialog(),
        title="Members",
        active="/members",
    )
