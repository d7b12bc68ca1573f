"""Pieces both MFA set-ups use (the one at sign-in and the one on the Account page): the QR code
with the key to type instead, the code input, and the recovery codes shown once."""

from __future__ import annotations

import reflex as rx

MUTED = rx.color("gray", 11)


def code_input(id: str = "field-code", autofocus: bool = True) -> rx.Component:
    """One input for a 6-digit code or a recovery code (letters allowed, so no numeric-only pattern)."""
    return rx.vstack(
        rx.el.label(rx.text("Code", size="2", weight="medium"), html_for=id),
        rx.input(id=id, name="code", auto_complete="one-time-code", input_mode="text", required=True,
                 placeholder="123 456", max_length=20, size="3", width="100%", auto_focus=autofocus,
                 spell_check=False, style={"letterSpacing": "0.12em", "fontVariantNumeric": "tabular-nums"}),
        spacing="1",
        width="100%",
    )


def qr_and_key(qr: rx.Var, secret: rx.Var, stacked: bool = False) -> rx.Component:
    """Step 1 of set-up: scan the code, or type the key by hand (an app on the same phone cannot scan).

    ``stacked``: QR above the text at every width (the narrow sign-in card)."""
    return rx.flex(
        rx.box(
            rx.image(src=qr, alt="QR code to add FlowMate to your authenticator app", width="10rem",
                     height="10rem", id="mfa-qr", style={"imageRendering": "pixelated", "display": "block"}),
            padding="0.5rem",
            background="white",
            border_radius="var(--radius-3)",
            border=f"1px solid {rx.color('gray', 5)}",
            flex_shrink="0",
        ),
        rx.vstack(
            rx.text("Scan this QR code with an authenticator app (Google Authenticator, Microsoft Authenticator, "
                    "1Password, Aegis, ...).", size="2"),
            rx.text("Can't scan it? Enter this key instead:", size="2", color=MUTED),
            rx.code(secret, id="mfa-secret", size="2", variant="soft",
                    style={"wordBreak": "normal", "overflowWrap": "anywhere", "letterSpacing": "0.08em",
                           "userSelect": "all", "lineHeight": "1.7"}),
            spacing="2",
            min_width="0",
            flex="1",
            width="100%",
        ),
        direction="column" if stacked else rx.breakpoints(initial="column", sm="row"),
        align="center" if stacked else rx.breakpoints(initial="center", sm="start"),
        style={"gap": "1.25rem"},
        width="100%",
    )


def recovery_codes(codes: rx.Var) -> rx.Component:
    """The ten recovery codes, shown once, with a copy button."""
    return rx.vstack(
        rx.callout("Save these recovery codes somewhere safe (a password manager, or printed). Each one works "
                   "once if you lose your phone. They will not be shown again.", icon="key_round",
                   color_scheme="amber", width="100%"),
        rx.grid(
            rx.foreach(codes, lambda c: rx.code(c, size="3", variant="ghost", class_name="recovery-code",
                                               style={"fontVariantNumeric": "tabular-nums"})),
            columns="2",
            gap="2",
            padding="1rem",
            width="100%",
            border_radius="var(--radius-3)",
            background=rx.color("gray", 2),
            border=f"1px solid {rx.color('gray', 5)}",
            id="recovery-codes",
            justify_items="center",
        ),
        rx.button(rx.icon("copy", size=14), "Copy codes", variant="soft", size="2",
                  on_click=rx.set_clipboard(codes.join("\n")), id="copy-recovery-codes", type="button"),
        spacing="3",
        width="100%",
    )
