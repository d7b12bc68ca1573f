"""The card every signed-out page sits in (/login, /signup, /forgot, /reset, invitations), and its
labelled field: shared by the auth and account features, so neither imports the other's pages."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import brand


def field(label: str, name: str, *, type_: str = "text", placeholder: str = "", autocomplete: str = "",
          required: bool = True, hint: str = "") -> rx.Component:
    """A labelled input; the label's ``for`` points at the input so clicking it focuses the field."""
    input_id = f"field-{name}"
    return rx.vstack(
        rx.el.label(
            rx.text(label, size="2", weight="medium"),
            html_for=input_id,
        ),
        rx.input(
            id=input_id,
            name=name,
            type=type_,
            placeholder=placeholder,
            auto_complete=autocomplete,
            required=required,
            size="3",
            width="100%",
        ),
        *([rx.text(hint, size="1", color=rx.color("gray", 10))] if hint else []),
        spacing="1",
        width="100%",
    )


def error_callout() -> rx.Component:
    return rx.cond(
        AuthState.auth_error != "",
        rx.callout(
            AuthState.auth_error,
            icon="triangle_alert",
            color_scheme="red",
            role="alert",
            width="100%",
            id="auth-error",
        ),
    )


def auth_shell(*children: rx.Component) -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.center(brand(), width="100%"),
            rx.card(
                rx.vstack(*children, spacing="4", width="100%"),
                size="4",
                width="100%",
            ),
            rx.center(rx.color_mode.button(aria_label="Toggle dark mode", id="color-mode-toggle"), width="100%"),
            spacing="5",
            width="100%",
            max_width="26rem",
        ),
        min_height="100vh",
        padding="1.5rem 1rem",
        background=f"radial-gradient(circle at 50% 0%, {rx.color('accent', 3)}, {rx.color('gray', 1)} 60%)",
    )
