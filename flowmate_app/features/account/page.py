"""/account: profile and email confirmation, two-factor authentication, active sessions with revoke,
workspaces (create, leave), and deletion by emailed link for accounts without a password."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import confirm_dialog, form_error, list_states, section_card
from flowmate_app.features.account.state import AccountState as A
from flowmate_app.features.auth.mfa_parts import code_input, qr_and_key, recovery_codes

MUTED = rx.color("gray", 11)


def profile_card() -> rx.Component:
    return section_card(
        "Profile",
        rx.hstack(
            rx.avatar(fallback=AuthState.initials, size="4", radius="full"),
            rx.vstack(
                rx.text(AuthState.display_name, size="3", weight="medium"),
                rx.hstack(
                    rx.text(AuthState.user_email, size="2", color=MUTED),
                    rx.cond(A.email_verified,
                            rx.badge(rx.icon("check", size=12), "confirmed", color_scheme="green", variant="soft"),
                            rx.badge("not confirmed", color_scheme="amber", variant="soft", id="email-unverified")),
                    spacing="2", align="center", wrap="wrap",
                ),
                spacing="1",
            ),
            spacing="3",
            align="center",
        ),
        rx.cond(
            A.email_verified,
            rx.fragment(),
            rx.callout(
                rx.vstack(
                    rx.text("Confirm your email address: until you do, you can use FlowMate, but you cannot accept "
                            "invitations to other workspaces. Open the link we mailed you."),
                    rx.button("Send the link again", size="1", variant="soft", on_click=A.resend_verification,
                              disabled=A.verification_sent, id="resend-verification"),
                    spacing="2",
                ),
                icon="mail_warning", color_scheme="amber", width="100%", id="verify-notice",
            ),
        ),
    )


def session_row(s: rx.Var) -> rx.Component:
    return rx.flex(
        rx.hstack(
            rx.center(rx.icon("monitor_smartphone", size=18), width="2.25rem", height="2.25rem",
                      border_radius="var(--radius-3)", background=rx.color("gray", 3)),
            rx.vstack(
                rx.hstack(
                    rx.text(s["device"], size="2", weight="medium"),
                    rx.cond(s["current"] != "", rx.badge("this browser", size="1", color_scheme="green",
                                                         variant="soft")),
                    spacing="2", align="center",
                ),
                rx.text("IP " + s["ip"] + " · last seen " + s["last_seen"] + " · signed in " + s["since"],
                        size="1", color=rx.color("gray", 10)),
                spacing="0", min_width="0",
            ),
            spacing="3", align="center", flex="1", min_width="0",
            title=s["user_agent"],
        ),
        rx.button(rx.icon("log_out", size=14), rx.cond(s["current"] != "", "Log out", "Revoke"), size="1",
                  variant="soft", color_scheme="red", aria_label="Revoke session on " + s["device"] + " " + s["ip"],
                  on_click=A.revoke_session(s["id"])),
        direction=rx.breakpoints(initial="column", sm="row"),
        align=rx.breakpoints(initial="stretch", sm="center"),
        gap="3",
        padding="0.75rem 1rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        class_name="session-row",
    )


def sessions_card() -> rx.Component:
    return section_card(
        "Where you are signed in",
        rx.text("Revoking a session signs that browser out at once. Sessions end by themselves after 14 days.",
                size="2", color=MUTED),
        list_states(
            A.account_loading, A.account_error, A.browser_sessions.length() == 0, A.load_account,
            rx.text("No active sessions.", size="2"),
            rx.card(rx.foreach(A.browser_sessions, session_row), size="1", padding="0", overflow="hidden",
                    width="100%", id="session-list"),
        ),
        action=rx.cond(A.browser_sessions.length() > 1,
                       rx.button("Sign out everywhere else", size="1", variant="soft", on_click=A.revoke_others,
                                 id="revoke-others")),
    )


def workspace_row(ws: rx.Var) -> rx.Component:
    return rx.flex(
        rx.hstack(
            rx.icon("building_2", size=16),
            rx.text(ws["name"], size="2", weight="medium"),
            rx.badge(ws["role"], size="1", variant="soft"),
            rx.cond(ws["id"] == AuthState.workspace_id, rx.badge("current", size="1", color_scheme="green",
                                                                 variant="soft")),
            spacing="2", align="center", flex="1", wrap="wrap",
        ),
        rx.hstack(
            rx.cond(ws["id"] != AuthState.workspace_id,
                    rx.button("Switch", size="1", variant="soft", on_click=AuthState.switch_workspace(ws["id"]))),
            rx.button("Leave", size="1", variant="soft", color_scheme="red", aria_label="Leave " + ws["name"],
                      on_click=A.ask_leave(ws["id"], ws["name"])),
            spacing="2",
        ),
        align="center",
        gap="3",
        padding="0.6rem 1rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        class_name="workspace-row",
    )


def workspaces_card() -> rx.Component:
    return section_card(
        "Your workspaces",
        rx.text("Rename the current workspace under Settings. You cannot leave your only workspace, or one "
                "where you are the last owner.", size="2", color=MUTED),
        rx.card(rx.foreach(AuthState.workspaces, workspace_row), size="1", padding="0", overflow="hidden",
                width="100%", id="workspace-list"),
        rx.form(
            rx.flex(
                rx.input(name="name", id="new-workspace-name", placeholder="New workspace name", required=True,
                         max_length=200, aria_label="Name of the new workspace", flex="1", min_width="12rem"),
                rx.button(rx.icon("plus", size=14), "Create workspace", type="submit", loading=A.creating_workspace,
                          id="create-workspace"),
                gap="2", wrap="wrap", width="100%",
            ),
            on_submit=A.create_workspace,
            reset_on_submit=False,
            width="100%",
        ),
        form_error(A.new_workspace_error, "new-workspace-error"),
    )


def _mfa_setup() -> rx.Component:
    return rx.vstack(
        qr_and_key(A.mfa_setup_qr, A.mfa_setup_secret),
        rx.form(
            rx.vstack(
                rx.text("Then enter the 6-digit code the app shows:", size="2"),
                rx.box(code_input(id="mfa-setup-code"), width="100%", max_width="20rem"),
                rx.hstack(
                    rx.button("Turn on", type="submit", size="2", loading=A.mfa_busy, id="mfa-confirm"),
                    rx.button("Cancel", type="button", size="2", variant="soft", color_scheme="gray",
                              on_click=A.cancel_mfa),
                    spacing="2",
                ),
                spacing="3", width="100%",
            ),
            on_submit=A.confirm_mfa,
            reset_on_submit=True,
            width="100%",
        ),
        spacing="4", width="100%", id="mfa-setup",
    )


def _mfa_on() -> rx.Component:
    return rx.vstack(
        rx.text(A.mfa_codes_left.to_string() + " of 10 recovery codes left.", size="2", color=MUTED,
                id="mfa-codes-left"),
        rx.cond(A.mfa_required_by != "",
                rx.text(A.mfa_required_by + " requires two-factor authentication, so it cannot be turned off while "
                        "you are a member.", size="2", color=MUTED)),
        rx.form(
            rx.flex(
                rx.input(name="code", placeholder="Current code", auto_complete="one-time-code", max_length=20,
                         aria_label="Current code for new recovery codes", flex="1", min_width="9rem"),
                rx.button(rx.icon("refresh_cw", size=14), "New recovery codes", type="submit", variant="soft"),
                gap="2", wrap="wrap", width="100%",
            ),
            on_submit=A.regenerate_codes, reset_on_submit=True, width="100%",
        ),
        rx.cond(
            A.mfa_required_by == "",
            rx.form(
                rx.flex(
                    rx.input(name="code", placeholder="Code or recovery code", auto_complete="one-time-code",
                             max_length=20, aria_label="Code to turn off two-factor authentication", flex="1",
                             min_width="9rem", id="mfa-disable-code"),
                    rx.cond(A.has_password,
                            rx.input(name="password", type="password", placeholder="or your password",
                                     auto_complete="current-password", flex="1", min_width="9rem",
                                     aria_label="Password to turn off two-factor authentication")),
                    rx.button("Turn off", type="submit", variant="soft", color_scheme="red", loading=A.mfa_busy,
                              id="mfa-disable"),
                    gap="2", wrap="wrap", width="100%",
                ),
                on_submit=A.disable_mfa, reset_on_submit=True, width="100%",
            ),
        ),
        spacing="3", width="100%",
    )


def mfa_card() -> rx.Component:
    return section_card(
        "Two-factor authentication",
        rx.text("A code from an authenticator app on your phone, asked for after your password or single sign-on.",
                size="2", color=MUTED),
        rx.cond(A.mfa_new_codes.length() > 0,
                rx.vstack(recovery_codes(A.mfa_new_codes),
                          rx.button("I have saved them", size="2", on_click=A.dismiss_codes, id="mfa-codes-done"),
                          spacing="3", width="100%")),
        rx.cond(
            A.mfa_enabled,
            _mfa_on(),
            rx.cond(
                A.mfa_setup_secret != "",
                _mfa_setup(),
                rx.vstack(
                    rx.cond(A.mfa_required_by != "",
                            rx.callout(A.mfa_required_by + " requires two-factor authentication.",
                                       icon="shield_alert", color_scheme="blue", width="100%")),
                    rx.button(rx.icon("shield_check", size=16), "Turn on two-factor authentication",
                              on_click=A.start_mfa, id="mfa-start"),
                    spacing="3", width="100%",
                ),
            ),
        ),
        form_error(A.mfa_error, "mfa-error"),
        action=rx.cond(A.mfa_enabled,
                       rx.badge(rx.icon("shield_check", size=12), "on", color_scheme="green", variant="soft",
                                id="mfa-on-badge"),
                       rx.badge("off", color_scheme="gray", variant="soft", id="mfa-off-badge")),
    )


def delete_card() -> rx.Component:
    """Only for accounts without a password (SSO only): the emailed link stands in for the password."""
    return rx.cond(
        A.has_password,
        rx.fragment(),
        section_card(
            "Delete your account",
            rx.text("Your account signs in with single sign-on and has no password, so we confirm a deletion by "
                    "email: open the link we send, then confirm once more.", size="2", color=MUTED),
            rx.cond(A.delete_link_sent_to != "",
                    rx.callout("We sent a link to " + A.delete_link_sent_to + ". It works once, for 30 minutes.",
                               icon="mail_check", color_scheme="green", width="100%", id="delete-link-sent")),
            rx.button(rx.icon("trash_2", size=14), "Email me a link to delete my account", variant="soft",
                      color_scheme="red", on_click=A.send_delete_link, id="send-delete-link"),
        ),
    )


def account_page() -> rx.Component:
    return layout(
        page_heading("Account", "Your profile, two-factor authentication, where you are signed in, and your "
                                "workspaces."),
        rx.vstack(profile_card(), mfa_card(), sessions_card(), workspaces_card(), delete_card(), spacing="4",
                  width="100%", max_width="48rem"),
        confirm_dialog("Leave workspace?", "You lose access to ", A.leave_name,
                       ". Someone there has to invite you again to come back.", confirm_label="Leave",
                       on_confirm=A.leave_confirmed, open=A.leave_open, on_open_change=A.set_leave_open),
        title="Account",
        active="/account",
    )
