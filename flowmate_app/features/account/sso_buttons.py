""""Continue with <provider>" buttons for /login and /signup, one per configured provider.

They are plain links (full page loads to /auth/oidc/<id>/start), built when the app compiles
from the configured providers, so an unconfigured provider never shows a button. The page's
``?next=`` travels along, so signing in from an invitation link comes back to it.
"""

from __future__ import annotations

import reflex as rx

from engine.services.oidc import configured_providers
from flowmate_app.features.account.links_state import LoginNoticeState
from flowmate_app.features.account.native import NativeLink

ICONS = {"google": "chrome", "microsoft": "layout_grid"}


def sso_buttons(verb: str = "Continue") -> rx.Component:
    providers = configured_providers()
    if not providers:
        return rx.fragment()
    buttons = [
        NativeLink.create(
            rx.button(rx.icon(ICONS.get(p.kind, "key_round"), size=16), f"{verb} with {p.name}", variant="outline",
                      size="3", width="100%", color_scheme="gray", type="button", tab_index=-1),
            href=f"/auth/oidc/{p.id}/start?next=" + LoginNoticeState.next_param,
            id=f"sso-{p.id}",
            style={"width": "100%", "textDecoration": "none"},
        )
        for p in providers
    ]
    return rx.vstack(
        *buttons,
        rx.flex(rx.separator(size="4"), rx.text("or", size="1", color=rx.color("gray", 10)), rx.separator(size="4"),
                align="center", gap="3", width="100%"),
        spacing="3",
        width="100%",
    )
