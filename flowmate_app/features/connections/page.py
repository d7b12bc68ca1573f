"""/connections: add, edit, test and delete credentials; secrets are never shown again."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import confirm_dialog, empty_state, form_error, list_states, viewer_notice
from flowmate_app.features.connections.state import ConnectionsState as S


def form_field(f: rx.Var) -> rx.Component:
    input_id = "conn-" + f["name"].to(str).replace(".", "-")
    error = S.form_field_errors.get(f["name"], "")
    control = rx.match(
        f["kind"],
        ("choice", rx.select.root(
            rx.select.trigger(width="100%", id=input_id),
            rx.select.content(rx.foreach(f["choices"].to(str).split(","), lambda c: rx.select.item(c, value=c))),
            name=f["name"],
            default_value=rx.cond(f["value"] != "", f["value"], f["choices"].to(str).split(",")[0]),
        )),
        ("secret", rx.input(
            name=f["name"], id=input_id, type="password", placeholder=f["placeholder"], required=f["required"] != "",
            auto_complete="new-password", width="100%",
        )),
        rx.input(
            name=f["name"], id=input_id, default_value=f["value"], placeholder=f["placeholder"],
            required=f["required"] != "", width="100%",
        ),
    )
    return rx.vstack(
        rx.el.label(
            rx.hstack(
                rx.text(f["label"], size="2", weight="medium"),
                rx.cond(f["required"] != "", rx.text("*", color=rx.color("red", 10), size="2", aria_hidden="true")),
                rx.cond(f["kind"] == "secret", rx.badge(rx.icon("lock", size=10), "secret", size="1",
                                                        variant="soft", color_scheme="gray", aria_hidden="true")),
                rx.cond(f["is_set"] != "", rx.badge("saved", size="1", color_scheme="green", variant="soft",
                                                    aria_hidden="true")),
                spacing="1",
                align="center",
            ),
            html_for=input_id,
        ),
        control,
        rx.cond(error != "", rx.text(error, size="1", color=rx.color("red", 11))),
        spacing="1",
        width="100%",
        key=S.form_type + f["name"],
    )


def form_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(S.form_id == "", "Add a connection", "Edit connection")),
            rx.dialog.description(
                "Secrets are encrypted at rest and never shown again after you save.", size="2",
                margin_bottom="1rem",
            ),
            rx.form(
                rx.vstack(
                    rx.cond(
                        S.form_id == "",
                        rx.vstack(
                            rx.el.label(rx.text("Type", size="2", weight="medium"), html_for="conn-type"),
                            rx.select.root(
                                rx.select.trigger(width="100%", id="conn-type", aria_label="Connection type"),
                                rx.select.content(
                                    rx.foreach(S.type_options, lambda o: rx.select.item(o["label"], value=o["value"])),
                                ),
                                value=S.form_type,
                                on_change=S.set_form_type,
                            ),
                            spacing="1",
                            width="100%",
                        ),
                    ),
                    rx.vstack(
                        rx.el.label(rx.text("Name", size="2", weight="medium"), html_for="conn-name"),
                        rx.input(name="name", id="conn-name", default_value=S.form_name, required=True,
                                 placeholder="e.g. Office email", width="100%", max_length=200),
                        rx.text("Steps refer to a connection by this name.", size="1", color=rx.color("gray", 10)),
                        spacing="1",
                        width="100%",
                    ),
                    rx.foreach(S.form_fields, form_field),
                    rx.cond(S.form_oauth, oauth_panel()),
                    form_error(S.form_error, "connection-error"),
                    rx.flex(
                        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
                        rx.cond(
                            S.form_oauth & (S.form_id == ""),
                            rx.button(rx.icon("external_link", size=14), "Connect to " + S.form_oauth_title,
                                      type="submit", loading=S.saving, disabled=~S.form_oauth_configured,
                                      id="connection-connect"),
                            rx.hstack(
                                rx.cond(S.form_oauth, rx.button(
                                    rx.icon("refresh_cw", size=14), "Reconnect", type="button", variant="soft",
                                    disabled=~S.form_oauth_configured, on_click=S.reconnect_from_form,
                                    id="connection-reconnect")),
                                rx.button("Save connection", type="submit", loading=S.saving, id="connection-save"),
                                spacing="3",
                            ),
                        ),
                        spacing="3",
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=S.save,
                reset_on_submit=False,
                key=S.form_id + S.form_type,
            ),
            max_width="32rem",
        ),
        open=S.form_open,
        on_open_change=S.set_form_open,
    )


def oauth_panel() -> rx.Component:
    """What an OAuth type shows instead of secret fields: where Connect goes, or why it cannot."""
    return rx.cond(
        S.form_oauth_configured,
        rx.callout(
            "You will sign in at " + S.form_oauth_title + " and approve access; FlowMate stores the tokens "
            "encrypted and renews them by itself.",
            icon="shield_check", color_scheme="blue", size="1", width="100%", id="oauth-info",
        ),
        rx.callout(S.form_oauth_help, icon="triangle_alert", color_scheme="amber", size="1", width="100%",
                   id="oauth-not-configured"),
    )


def oauth_badges(c: rx.Var) -> rx.Component:
    """Reconnect needed / choose organisation, with the button that fixes it."""
    return rx.fragment(
        rx.cond(
            c["oauth_status"] == "reconnect_needed",
            rx.hstack(
                rx.badge(rx.icon("circle_alert", size=12), "Reconnect needed", color_scheme="red", size="2",
                         title=c["oauth_message"], class_name="reconnect-needed"),
                rx.cond(AuthState.can_edit, rx.button(rx.icon("refresh_cw", size=14), "Reconnect", size="2",
                                                      color_scheme="red", on_click=S.reconnect(c["id"], c["type"]))),
                spacing="2", align="center",
            ),
        ),
        rx.cond(
            c["needs_tenant"] != "",
            rx.cond(AuthState.can_edit, rx.button(rx.icon("building_2", size=14), "Choose organisation", size="2",
                                                  color_scheme="amber", variant="soft",
                                                  on_click=S.choose_tenant(c["id"]))),
        ),
        rx.cond(c["oauth_status"] == "not_connected",
                rx.cond(AuthState.can_edit, rx.button(rx.icon("external_link", size=14), "Connect", size="2",
                                                      on_click=S.reconnect(c["id"], c["type"])))),
    )


def delete_dialog() -> rx.Component:
    return confirm_dialog(
        "Delete connection?", "Steps that use “", S.confirm_name, "” will fail until you pick another connection.",
        confirm_label="Delete connection", on_confirm=S.delete_confirmed,
        open=S.confirm_open, on_open_change=S.set_confirm_open,
    )


def connection_row(c: rx.Var) -> rx.Component:
    result = S.test_results.get(c["id"], "")
    ok = S.test_ok.get(c["id"], "") != ""
    return rx.vstack(
        rx.flex(
            rx.hstack(
                rx.center(rx.icon(c["icon"], size=18), width="2.25rem", height="2.25rem", min_width="2.25rem",
                          border_radius="var(--radius-3)", background=rx.color("accent", 3),
                          color=rx.color("accent", 11)),
                rx.vstack(
                    rx.text(c["name"], size="3", weight="medium", class_name="connection-name",
                            overflow="hidden", text_overflow="ellipsis", white_space="nowrap", max_width="100%"),
                    rx.text(c["type_title"] + rx.cond(c["summary"] != "", " · " + c["summary"], ""), size="1",
                            color=rx.color("gray", 10), overflow="hidden", text_overflow="ellipsis",
                            white_space="nowrap", max_width="100%"),
                    rx.hstack(rx.icon("lock", size=11), rx.text("Secrets set: " + c["secrets"], size="1"),
                              spacing="1", align="center", color=rx.color("gray", 10)),
                    spacing="0",
                    min_width="0",
                ),
                spacing="3",
                align="center",
                flex="1",
                min_width="0",
            ),
            rx.hstack(
                rx.cond(c["oauth"] != "", oauth_badges(c)),
                rx.button(rx.icon("plug_zap", size=14), "Test", variant="soft", size="2",
                          loading=S.testing_id == c["id"], on_click=S.test(c["id"])),
                rx.cond(
                    AuthState.can_edit,
                    rx.hstack(
                        rx.button(rx.icon("pencil", size=14), "Edit", variant="soft", color_scheme="gray", size="2",
                                  on_click=S.open_edit(c["id"])),
                        rx.icon_button(rx.icon("trash_2", size=14), variant="soft", color_scheme="red", size="2",
                                       aria_label="Delete " + c["name"], on_click=S.ask_delete(c["id"], c["name"])),
                        spacing="2",
                    ),
                ),
                spacing="2",
                justify=rx.breakpoints(initial="start", sm="end"),
            ),
            direction=rx.breakpoints(initial="column", sm="row"),
            align=rx.breakpoints(initial="stretch", sm="center"),
            gap="3",
            width="100%",
        ),
        rx.cond(
            result != "",
            rx.callout(result, icon=rx.cond(ok, "circle_check", "circle_x"), color_scheme=rx.cond(ok, "green", "red"),
                       size="1", width="100%", class_name="test-result"),
        ),
        padding="0.875rem 1rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        spacing="2",
        width="100%",
        class_name="connection-row",
    )


def connections_page() -> rx.Component:
    return layout(
        page_heading(
            "Connections",
            "Credentials for the services your steps talk to.",
            rx.cond(AuthState.can_edit, rx.button(rx.icon("plus", size=16), "Add connection", on_click=S.open_new,
                                                  id="add-connection")),
        ),
        viewer_notice(AuthState.can_edit),
        list_states(
            S.loading, S.load_error, S.rows.length() == 0, S.load,
            empty_state("plug", "No connections yet",
                        "A connection stores the login for an outside service — your SMTP server, Twilio or "
                        "ClickSend for SMS, HubSpot, Slack or any HTTP API — so steps can use it without "
                        "copying secrets around.",
                        rx.cond(AuthState.can_edit, rx.button(rx.icon("plus", size=16), "Add connection",
                                                              on_click=S.open_new)),
                        id="connections-empty"),
            rx.card(rx.foreach(S.rows, connection_row), size="1", padding="0", overflow="hidden", width="100%",
                    id="connection-list"),
        ),
        form_dialog(),
        delete_dialog(),
        title="Connections",
        active="/connections",
    )
