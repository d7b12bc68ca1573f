"""Header account menu: current workspace and role, workspace switcher, log out."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState


def workspace_item(ws: rx.Var) -> rx.Component:
    return rx.menu.item(
        rx.hstack(
            rx.icon("building_2", size=14),
            rx.text(ws["name"], size="2", trim="both"),
            rx.spacer(),
            rx.cond(ws["id"] == AuthState.workspace_id, rx.icon("check", size=14)),
            align="center",
            width="100%",
            spacing="2",
        ),
        on_select=AuthState.switch_workspace(ws["id"]),
    )


def user_menu() -> rx.Component:
    """Avatar button opening the account menu; nothing is shown while signed out."""
    return rx.cond(
        AuthState.signed_in,
        rx.menu.root(
            rx.menu.trigger(
                rx.button(
                    rx.avatar(fallback=AuthState.initials, size="1", radius="full"),
                    rx.text(
                        AuthState.workspace_name,
                        size="2",
                        max_width="12rem",
                        overflow="hidden",
                        text_overflow="ellipsis",
                        white_space="nowrap",
                        display=["none", "none", "block"],
                    ),
                    rx.icon("chevron_down", size=14),
                    variant="ghost",
                    color_scheme="gray",
                    aria_label="Account and workspace menu",
                    id="user-menu",
                ),
            ),
            rx.menu.content(
                rx.box(
                    rx.text(AuthState.display_name, size="2", weight="bold"),
                    rx.text(AuthState.user_email, size="1", color=rx.color("gray", 11)),
                    rx.hstack(
                        rx.text(AuthState.workspace_name, size="1", color=rx.color("gray", 11)),
                        rx.badge(AuthState.role, size="1", variant="soft", id="role-badge"),
                        spacing="2",
                        align="center",
                        padding_top="0.25rem",
                    ),
                    padding="0.5rem 0.75rem",
                    max_width="18rem",
                ),
                rx.menu.separator(),
                rx.text("Switch workspace", size="1", color=rx.color("gray", 10), padding="0.25rem 0.75rem"),
                rx.foreach(AuthState.workspaces, workspace_item),
                rx.menu.separator(),
                rx.menu.item(
                    rx.hstack(rx.icon("users", size=14), rx.text("Members"), spacing="2", align="center"),
                    on_select=rx.redirect("/members"),
                ),
                rx.menu.item(
                    rx.hstack(rx.icon("database", size=14), rx.text("Your data"), spacing="2", align="center"),
                    on_select=rx.redirect("/settings/data"),
                    id="menu-data",
                ),
                rx.menu.item(
                    rx.hstack(rx.icon("user_cog", size=14), rx.text("Account and sessions"), spacing="2",
                              align="center"),
                    on_select=rx.redirect("/account"),
                    id="menu-account",
                ),
                rx.menu.item(
                    rx.hstack(rx.icon("log_out", size=14), rx.text("Log out"), spacing="2", align="center"),
                    on_select=AuthState.log_out,
                    color="red",
                    id="logout",
                ),
                align="end",
                min_width="14rem",
            ),
        ),
    )
