"""/login and /signup: a centred card on a quiet background, no app shell."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState, submit_script
from flowmate_app.features.account.links_page import forgot_link, login_extras
from flowmate_app.features.auth.shell import auth_shell, error_callout, field


def submit_to(endpoint: str, form_id: str) -> list[rx.event.EventSpec]:
    """Post the form to the /auth endpoint from the browser (the password never enters state)."""
    return [AuthState.auth_started, rx.call_script(submit_script(endpoint, form_id), callback=AuthState.auth_finished)]


def login_page() -> rx.Component:
    return auth_shell(
        rx.vstack(
            rx.heading("Log in", as_="h1", size="6"),
            rx.text("Welcome back. Your automations kept running.", size="2", color=rx.color("gray", 11)),
            spacing="1",
        ),
        error_callout(),
        login_extras(),
        rx.form(
            rx.vstack(
                field("Email", "email", type_="email", placeholder="you@business.com.au", autocomplete="email"),
                field("Password", "password", type_="password", autocomplete="current-password"),
                forgot_link(),
                rx.button("Log in", type="submit", size="3", width="100%", id="login-submit",
                          loading=AuthState.auth_busy),
                spacing="4",
                width="100%",
            ),
            id="login-form",
            on_submit=submit_to("/auth/login", "login-form"),
            reset_on_submit=False,
            width="100%",
        ),
        rx.cond(
            AuthState.signup_mode == "open",
            rx.text(
                "New to FlowMate? ",
                rx.link("Create an account", href="/signup", weight="medium"),
                size="2",
                color=rx.color("gray", 11),
            ),
        ),
    )


def signup_unavailable() -> rx.Component:
    """What /signup shows when FLOWMATE_SIGNUP is ``invite`` or ``closed``."""
    return rx.callout(
        rx.cond(
            AuthState.signup_mode == "invite",
            "Sign-up is by invitation only. Ask your workspace owner to send you an invitation.",
            "Sign-up is closed on this FlowMate. Ask your administrator for an account.",
        ),
        icon="lock",
        color_scheme="gray",
        width="100%",
        id="signup-unavailable",
    )


def signup_page() -> rx.Component:
    from flowmate_app.features.account.sso_buttons import sso_buttons

    return auth_shell(
        rx.vstack(
            rx.heading("Create your account", as_="h1", size="6"),
            rx.text("Automate the busywork of your business in minutes.", size="2", color=rx.color("gray", 11)),
            spacing="1",
        ),
        error_callout(),
        sso_buttons("Sign up"),
        rx.cond(AuthState.signup_mode == "open", rx.form(
            rx.vstack(
                field("Your name", "name", placeholder="Alex Citizen", autocomplete="name", required=False),
                field("Email", "email", type_="email", placeholder="you@business.com.au", autocomplete="email"),
                field("Password", "password", type_="password", autocomplete="new-password",
                      hint="At least 8 characters."),
                field("Workspace name", "workspace", placeholder="Acme Plumbing", autocomplete="organization",
                      required=False, hint="Usually your business name. You can change it later."),
                rx.button("Create account", type="submit", size="3", width="100%", id="signup-submit",
                          loading=AuthState.auth_busy),
                spacing="4",
                width="100%",
            ),
            id="signup-form",
            on_submit=submit_to("/auth/signup", "signup-form"),
            reset_on_submit=False,
            width="100%",
        ), signup_unavailable()),
        rx.text(
            "Already have an account? ",
            rx.link("Log in", href="/login", weight="medium"),
            size="2",
            color=rx.color("gray", 11),
        ),
    )
