"""Pages behind emailed links: accept an invitation, forgot / reset password, confirm email."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState, submit_script
from flowmate_app.features.account.links_state import (
    DeleteAccountState,
    ForgotState,
    InviteState,
    LoginNoticeState,
    ResetState,
    VerifyState,
)
from flowmate_app.features.account.native import NativeForm
from flowmate_app.features.auth.shell import auth_shell, field

MUTED = rx.color("gray", 11)


def _heading(title: str | rx.Var, text: str | rx.Var) -> rx.Component:
    return rx.vstack(rx.heading(title, as_="h1", size="6"), rx.text(text, size="2", color=MUTED), spacing="1")


def _callout(text: rx.Var | str, colour: str = "red", icon: str = "triangle_alert", id: str = "") -> rx.Component:
    return rx.callout(text, icon=icon, color_scheme=colour, role="alert" if colour == "red" else "status",
                      width="100%", id=id)


def _loading() -> rx.Component:
    return rx.center(rx.spinner(size="3"), padding="2rem", width="100%")


# ------------------------------------------------------------------------------ invitation


def _invite_summary() -> rx.Component:
    return rx.vstack(
        rx.heading("Join " + InviteState.invite_workspace, as_="h1", size="6", id="invite-heading"),
        rx.text(InviteState.invite_inviter, " invited ", rx.text.strong(InviteState.invite_email), " as ",
                rx.badge(InviteState.invite_role, variant="soft"), ".", size="2", color=MUTED),
        rx.text("The link works once and expires on " + InviteState.invite_expires + ".", size="1",
                color=rx.color("gray", 10)),
        spacing="2",
    )


def _signup_form() -> rx.Component:
    # A plain form post: the server creates the account and sets the HttpOnly session cookie.
    return NativeForm.create(
        rx.vstack(
            rx.el.input(type="hidden", name="token", value=InviteState.invite_token),
            rx.vstack(rx.text("Email", size="2", weight="medium"),
                      rx.input(value=InviteState.invite_email, read_only=True, size="3", width="100%",
                               aria_label="Email", id="invite-email"),
                      spacing="1", width="100%"),
            field("Your name", "name", placeholder="Alex Citizen", autocomplete="name", required=False),
            field("Password", "password", type_="password", autocomplete="new-password",
                  hint="At least 8 characters."),
            rx.button("Create account and join", type="submit", size="3", width="100%", id="invite-signup"),
            spacing="4",
            width="100%",
        ),
        action="/auth/invitations/signup",
        method="post",
        width="100%",
    )


def _invite_body() -> rx.Component:
    login_href = "/login?next=/invite/" + InviteState.invite_token
    return rx.match(
        InviteState.invite_mode,
        ("invalid", rx.vstack(_heading("Invitation not valid", ""),
                              _callout(InviteState.invite_message, id="invite-invalid"),
                              rx.link("Go to FlowMate", href="/login"), spacing="4", width="100%")),
        ("signup", rx.vstack(_invite_summary(), _signup_form(),
                             rx.text("Already have an account with this email? ", rx.link("Log in", href=login_href),
                                     size="2", color=MUTED),
                             spacing="4", width="100%")),
        ("login", rx.vstack(_invite_summary(),
                            rx.text("You already have a FlowMate account with this email. Log in to join.",
                                    size="2"),
                            rx.link(rx.button("Log in to accept", size="3", width="100%"), href=login_href,
                                    width="100%"),
                            spacing="4", width="100%")),
        ("join", rx.vstack(_invite_summary(),
                           rx.button("Join " + InviteState.invite_workspace, size="3", width="100%",
                                     on_click=InviteState.join, loading=InviteState.joining, id="invite-join"),
                           spacing="4", width="100%")),
        ("member", rx.vstack(_invite_summary(),
                             _callout("You are already a member of this workspace.", "green", "check"),
                             rx.link("Open FlowMate", href="/"), spacing="4", width="100%")),
        ("wrong_account", rx.vstack(_invite_summary(),
                                    _callout("This invitation is for " + InviteState.invite_email
                                             + ", but you are signed in as " + AuthState.user_email + ".",
                                             id="invite-wrong-account"),
                                    rx.button("Log out and use the invited address", variant="soft",
                                              on_click=AuthState.log_out),
                                    spacing="4", width="100%")),
        ("unverified", rx.vstack(_invite_summary(),
                                 _callout("Confirm your email address before joining another workspace: open the "
                                          "link we mailed to " + AuthState.user_email + ", then this invitation "
                                          "again.", "amber", "mail_warning", id="invite-unverified"),
                                 rx.button("Send the confirmation link again", variant="soft",
                                           on_click=InviteState.resend_verification,
                                           disabled=InviteState.verification_sent),
                                 spacing="4", width="100%")),
        rx.fragment(),
    )


def invite_page() -> rx.Component:
    return auth_shell(
        rx.cond(InviteState.invite_error != "", _callout(InviteState.invite_error, id="invite-error")),
        rx.cond(InviteState.invite_loading, _loading(), _invite_body()),
    )


# ------------------------------------------------------------------------------ password reset


def forgot_page() -> rx.Component:
    return auth_shell(
        _heading("Forgot your password?", "We will email you a link to choose a new one."),
        rx.cond(
            ForgotState.forgot_sent,
            rx.vstack(_callout(ForgotState.forgot_message, "green", "mail_check", id="forgot-sent"),
                      rx.text("The link works once, for one hour. Nothing arrived? Check the spam folder or try "
                              "again in a few minutes.", size="2", color=MUTED),
                      spacing="3", width="100%"),
            rx.form(
                rx.vstack(
                    rx.cond(ForgotState.forgot_error != "", _callout(ForgotState.forgot_error, id="forgot-error")),
                    field("Email", "email", type_="email", placeholder="you@business.com.au", autocomplete="email"),
                    rx.button("Send reset link", type="submit", size="3", width="100%", id="forgot-submit",
                              loading=ForgotState.forgot_busy),
                    spacing="4", width="100%",
                ),
                id="forgot-form",
                on_submit=[ForgotState.forgot_started,
                           rx.call_script(submit_script("/auth/forgot", "forgot-form", navigate=False),
                                          callback=ForgotState.forgot_finished)],
                reset_on_submit=False,
                width="100%",
            ),
        ),
        rx.text(rx.link("Back to log in", href="/login"), size="2"),
    )


def reset_page() -> rx.Component:
    return auth_shell(
        _heading("Choose a new password", "Every other session of your account is signed out afterwards."),
        rx.cond(
            ResetState.reset_loading,
            _loading(),
            rx.cond(
                ResetState.reset_invalid != "",
                rx.vstack(_callout(ResetState.reset_invalid, id="reset-invalid"),
                          rx.link("Ask for a new link", href="/forgot"), spacing="3", width="100%"),
                rx.form(
                    rx.vstack(
                        rx.text("For ", rx.text.strong(ResetState.reset_email), size="2", color=MUTED),
                        rx.cond(ResetState.reset_error != "", _callout(ResetState.reset_error, id="reset-error")),
                        field("New password", "password", type_="password", autocomplete="new-password",
                              hint="At least 8 characters."),
                        field("Repeat the new password", "confirm", type_="password", autocomplete="new-password"),
                        rx.button("Set new password", type="submit", size="3", width="100%", id="reset-submit"),
                        spacing="4", width="100%",
                    ),
                    on_submit=ResetState.set_new_password,
                    reset_on_submit=False,
                    width="100%",
                ),
            ),
        ),
    )


def verify_page() -> rx.Component:
    return auth_shell(
        _heading("Confirm your email", ""),
        rx.cond(
            VerifyState.verify_loading,
            _loading(),
            rx.cond(VerifyState.verify_ok,
                    _callout(VerifyState.verify_message, "green", "check", id="verify-ok"),
                    _callout(VerifyState.verify_message, id="verify-failed")),
        ),
        rx.text(rx.link("Open FlowMate", href="/"), size="2"),
    )


def login_extras() -> rx.Component:
    """Added to /login: the notice after a reset, and the way to the reset form."""
    from flowmate_app.features.account.sso_buttons import sso_buttons

    return rx.fragment(
        rx.cond(LoginNoticeState.login_notice != "",
                _callout(LoginNoticeState.login_notice, "green", "check", id="login-notice")),
        rx.cond(LoginNoticeState.sso_error != "", _callout(LoginNoticeState.sso_error, id="sso-error")),
        sso_buttons("Continue"),
    )


def forgot_link() -> rx.Component:
    return rx.flex(rx.link("Forgot password?", href="/forgot", size="2", id="forgot-link"), justify="end",
                   width="100%")


def delete_account_page() -> rx.Component:
    D = DeleteAccountState
    return auth_shell(
        _heading("Delete your account", "This cannot be undone."),
        rx.cond(
            D.delete_loading,
            _loading(),
            rx.cond(
                D.delete_invalid != "",
                rx.vstack(_callout(D.delete_invalid, id="delete-invalid"),
                          rx.link("Open FlowMate", href="/"), spacing="3", width="100%"),
                rx.vstack(
                    rx.text("Delete the FlowMate account ", rx.text.strong(D.delete_email),
                            "? Your memberships, sessions and own exports go; audit rows keep a pseudonym instead "
                            "of your name.", size="2"),
                    rx.foreach(D.delete_blockers, lambda b: _callout(b, "amber", "info")),
                    rx.cond(D.delete_error != "", _callout(D.delete_error, id="delete-error")),
                    rx.button("Delete my account", color_scheme="red", size="3", width="100%",
                              on_click=D.confirm_delete, loading=D.deleting, disabled=D.delete_blockers.length() > 0,
                              id="confirm-delete-account"),
                    rx.link("Keep my account", href="/account", size="2"),
                    spacing="4", width="100%",
                ),
            ),
        ),
    )
