"""/login/mfa: enter the code after the password (or SSO), or set MFA up when a workspace requires it."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState, submit_script
from flowmate_app.features.account.native import NativeLink
from flowmate_app.features.auth.mfa_parts import MUTED, code_input, qr_and_key, recovery_codes
from flowmate_app.features.auth.mfa_state import MfaLoginState as M
from flowmate_app.features.auth.shell import auth_shell, error_callout


def _heading(title: str, text: str | rx.Var) -> rx.Component:
    return rx.vstack(rx.heading(title, as_="h1", size="5"), rx.text(text, size="2", color=MUTED), spacing="1")


def _other_account() -> rx.Component:
    return rx.text(rx.link("Use a different account", href="/login"), size="2")


def _verify() -> rx.Component:
    return rx.vstack(
        rx.vstack(
            rx.center(rx.icon("shield_check", size=22), width="2.75rem", height="2.75rem", border_radius="9999px",
                      background=rx.color("accent", 3), color=rx.color("accent", 11)),
            _heading("Two-factor authentication", "Enter the 6-digit code from your authenticator app."),
            spacing="3",
        ),
        error_callout(),
        rx.form(
            rx.vstack(
                code_input(),
                rx.button("Verify and log in", type="submit", size="3", width="100%", id="mfa-submit",
                          loading=AuthState.auth_busy),
                spacing="4", width="100%",
            ),
            id="mfa-form",
            on_submit=[AuthState.auth_started,
                       rx.call_script(submit_script("/auth/mfa", "mfa-form"), callback=AuthState.auth_finished)],
            reset_on_submit=False,
            width="100%",
        ),
        rx.text("Lost your phone? Enter one of your recovery codes instead; each works once.", size="1",
                color=rx.color("gray", 10)),
        _other_account(),
        spacing="4", width="100%",
    )


def _setup() -> rx.Component:
    return rx.vstack(
        _heading("Set up two-factor authentication", "One more step before you continue."),
        rx.cond(M.mfa_required_by != "",
                rx.callout(M.mfa_required_by + " requires two-factor authentication for every member.",
                           icon="shield_alert", color_scheme="blue", width="100%", id="mfa-required-by")),
        qr_and_key(M.mfa_qr, M.mfa_secret, stacked=True),
        error_callout(),
        rx.form(
            rx.vstack(
                rx.text("Then enter the 6-digit code the app shows:", size="2"),
                code_input(autofocus=False),
                rx.button("Turn on and continue", type="submit", size="3", width="100%", id="mfa-setup-submit",
                          loading=AuthState.auth_busy),
                spacing="3", width="100%",
            ),
            id="mfa-setup-form",
            on_submit=[AuthState.auth_started,
                       rx.call_script(submit_script("/auth/mfa/setup", "mfa-setup-form"),
                                      callback=M.setup_finished)],
            reset_on_submit=False,
            width="100%",
        ),
        _other_account(),
        spacing="4", width="100%",
    )


def _codes() -> rx.Component:
    return rx.vstack(
        _heading("Two-factor authentication is on", "You will be asked for a code each time you log in."),
        recovery_codes(M.mfa_codes),
        NativeLink.create(rx.button("I have saved them: continue", size="3", width="100%", tab_index=-1),
                          href=M.mfa_next, id="mfa-continue", style={"width": "100%", "textDecoration": "none"}),
        spacing="4", width="100%",
    )


def mfa_login_page() -> rx.Component:
    return auth_shell(
        rx.match(
            M.mfa_mode,
            ("verify", _verify()),
            ("setup", _setup()),
            ("codes", _codes()),
            ("expired", rx.vstack(
                _heading("Sign-in expired", "This sign-in step is only open for ten minutes."),
                rx.link(rx.button("Log in again", size="3", width="100%"), href="/login", width="100%"),
                spacing="4", width="100%", id="mfa-expired")),
            rx.center(rx.spinner(size="3"), padding="2rem", width="100%"),
        ),
    )
