"""/tokens: create (role capped, optional expiry, shown once with copy), list, revoke."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import confirm_dialog, empty_state, form_error, list_states, section_card
from flowmate_app.features.tokens.state import TokensState as T


def create_form() -> rx.Component:
    return section_card(
        "New token",
        rx.text("Scripts and other systems call the REST API (/api/v1) with "
                "'Authorization: Bearer <token>'. A token acts in this workspace with its role.",
                size="2", color=rx.color("gray", 11)),
        rx.form(
            rx.flex(
                rx.input(name="name", id="token-name", placeholder="e.g. Xero sync script", max_length=200,
                         aria_label="Token name", flex="1", min_width="12rem"),
                rx.select.root(
                    rx.select.trigger(aria_label="Token role", width="8rem", id="token-role"),
                    rx.select.content(rx.foreach(T.token_roles, lambda r: rx.select.item(r.capitalize(), value=r))),
                    value=T.new_role, on_change=T.set_new_role,
                ),
                rx.select.root(
                    rx.select.trigger(aria_label="Token expiry", width="8rem", id="token-expiry"),
                    rx.select.content(rx.foreach(T.expiry_choices,
                                                 lambda c: rx.select.item(c["label"], value=c["value"]))),
                    value=T.new_expiry, on_change=T.set_new_expiry,
                ),
                rx.button(rx.icon("key_round", size=14), "Create token", type="submit", loading=T.creating,
                          id="token-create"),
                gap="2", wrap="wrap", width="100%",
            ),
            on_submit=T.create,
            reset_on_submit=False,
            width="100%",
        ),
        rx.text("Role can be at most yours. Expiry: after it, the token answers 401.", size="1",
                color=rx.color("gray", 10)),
        form_error(T.create_error, "token-error"),
    )


def token_row(t: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(t["name"], weight="medium"), rx.code(t["prefix"], size="1"), spacing="1")),
        rx.table.cell(rx.badge(t["role"], variant="soft")),
        rx.table.cell(rx.text(t["created_by"], size="2"), rx.text(t["created"], size="1", color=rx.color("gray", 10))),
        rx.table.cell(rx.text(t["last_used"], size="2")),
        rx.table.cell(rx.cond(t["revoked"] != "", rx.badge("revoked", color_scheme="red", variant="soft"),
                              rx.text(t["expires"], size="2"))),
        rx.table.cell(rx.cond(t["revoked"] == "",
                              rx.button("Revoke", size="1", variant="soft", color_scheme="red",
                                        aria_label="Revoke token " + t["name"],
                                        on_click=T.ask_delete(t["id"], t["name"])))),
        class_name="token-row",
    )


def token_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                      ("Token", "Role", "Created by", "Last used", "Expires", "")])),
        rx.table.body(rx.foreach(T.tokens, token_row)),
        variant="surface", width="100%", id="token-list",
    )


def created_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Copy your new token"),
            rx.dialog.description("This is the only time it is shown. Store it somewhere safe, like a password "
                                  "manager or your script's secret settings.", size="2"),
            rx.flex(
                rx.code(T.created_token, id="token-value", size="2", word_break="break-all", flex="1",
                        padding="0.5rem"),
                rx.button(rx.icon("copy", size=14), "Copy", on_click=T.copy_token, id="token-copy"),
                gap="2", align="center", margin_y="1rem",
            ),
            rx.flex(rx.dialog.close(rx.button("Done", variant="soft", id="token-done")), justify="end"),
            max_width="34rem",
        ),
        open=T.created_open,
        on_open_change=T.set_created_open,
    )


def tokens_page() -> rx.Component:
    return layout(
        page_heading("API tokens", "Let scripts and other systems use this workspace through the REST API."),
        rx.cond(
            AuthState.is_admin,
            rx.vstack(
                create_form(),
                list_states(
                    T.tokens_loading, T.tokens_error, T.tokens.length() == 0, T.load,
                    empty_state("key_round", "No tokens yet", "Create one above; it is shown once.", id="tokens-empty"),
                    token_table(),
                ),
                spacing="4", width="100%",
            ),
            rx.callout("Only admins and owners can see and manage API tokens.", icon="lock", color_scheme="gray",
                       variant="surface", size="1", width="100%", id="viewer-notice"),
        ),
        created_dialog(),
        confirm_dialog("Revoke token?", T.confirm_name, " stops working at once; anything using it gets 401.",
                       confirm_label="Revoke", on_confirm=T.delete_confirmed, open=T.confirm_open,
                       on_open_change=T.set_confirm_open),
        title="API tokens",
        active="/tokens",
    )
