"""/contacts: who the workspace messages, their consent per channel with its history, the
suppression list, CSV import/export and the inbound-SMS addresses for STOP replies."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import empty_state, form_error, list_states, section_card, viewer_notice
from flowmate_app.features.contacts.state import ContactsState as S

CONSENT_COLOURS = {"granted": "green", "withdrawn": "red", "unknown": "gray"}


def consent_badge(status: rx.Var, label: rx.Var) -> rx.Component:
    return rx.badge(label, color_scheme=rx.match(status, ("granted", "green"), ("withdrawn", "red"), "gray"),
                    variant="soft", size="1")


def field(label: str, control: rx.Component, html_for: str) -> rx.Component:
    control.style.update({"width": "100%"})
    return rx.vstack(rx.text(label, size="1", weight="medium", as_="label", html_for=html_for), control,
                     spacing="1", min_width="10rem", flex="1", width="100%")


def contact_row(c: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(c["name"], on_click=S.select(c["id"]), cursor="pointer", href="#",
                              class_name="contact-open")),
        rx.table.cell(rx.text(c["email"], size="2")),
        rx.table.cell(rx.text(c["phone"], size="2", font_family="var(--code-font-family)")),
        rx.table.cell(rx.hstack(rx.text("Email", size="1", color=rx.color("gray", 10)),
                                consent_badge(c["email_consent"], c["email_label"]),
                                rx.text("SMS", size="1", color=rx.color("gray", 10)),
                                consent_badge(c["sms_consent"], c["sms_label"]), spacing="1", align="center")),
        rx.table.cell(rx.cond(c["suppressed"] != "", rx.badge("Suppressed: " + c["suppressed"], color_scheme="red",
                                                               variant="outline", size="1"))),
        class_name="contact-row",
    )


def contacts_table() -> rx.Component:
    return rx.vstack(
        rx.card(
            rx.table.root(
                rx.table.header(rx.table.row(
                    rx.table.column_header_cell("Name"), rx.table.column_header_cell("Email"),
                    rx.table.column_header_cell("Phone"), rx.table.column_header_cell("Marketing consent"),
                    rx.table.column_header_cell(""))),
                rx.table.body(rx.foreach(S.items, contact_row)),
                width="100%", variant="ghost",
            ),
            size="1", width="100%", overflow_x="auto", id="contacts-list",
        ),
        rx.hstack(
            rx.text(S.page_label, size="1", color=rx.color("gray", 10)),
            rx.button("Previous", variant="soft", size="1", on_click=S.prev_page, disabled=~S.has_prev),
            rx.button("Next", variant="soft", size="1", on_click=S.next_page, disabled=~S.has_next),
            spacing="2", align="center", justify="end", width="100%",
        ),
        width="100%",
    )


def history_item(h: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.badge(h["channel"], variant="surface", size="1"),
                  consent_badge(h["raw_status"], h["status"]),
                  rx.text(h["at"], size="1", color=rx.color("gray", 10)), spacing="2", align="center"),
        rx.text("Source: ", h["source"], " · by ", h["actor"], size="1", color=rx.color("gray", 11)),
        rx.cond(h["wording"] != "", rx.text("“", h["wording"], "”", size="1", style={"font-style": "italic"})),
        spacing="1", padding_y="0.5rem", border_bottom=f"1px solid {rx.color('gray', 4)}", width="100%",
        class_name="consent-event",
    )


def suppress_buttons(channel: str, flag: rx.Var) -> rx.Component:
    label = "email" if channel == "email" else "SMS"
    return rx.cond(
        flag,
        rx.cond(AuthState.is_admin, rx.button(f"Lift {label} suppression", size="1", variant="soft",
                                              on_click=S.unsuppress_selected(channel))),
        rx.button(f"Suppress {label}", size="1", variant="soft", color_scheme="red",
                  on_click=S.suppress_selected(channel), disabled=~AuthState.can_edit,
                  id=f"suppress-{channel}"),
    )


def detail_panel() -> rx.Component:
    return rx.cond(
        S.selected_id != "",
        section_card(
            S.detail["name"],
            rx.text(S.detail["email"], " · ", S.detail["phone"], size="2"),
            rx.hstack(rx.text("Email", size="1"), consent_badge(S.detail["email_consent"], S.detail["email_label"]),
                      rx.text("SMS", size="1"), consent_badge(S.detail["sms_consent"], S.detail["sms_label"]),
                      spacing="2", align="center"),
            rx.hstack(suppress_buttons("email", S.detail["suppressed"].contains("email")),
                      suppress_buttons("sms", S.detail["suppressed"].contains("SMS")), spacing="2", wrap="wrap"),
            form_error(S.detail_error, "detail-error"),
            rx.cond(AuthState.can_edit, rx.form(
                rx.vstack(
                    rx.heading("Record consent", as_="h3", size="2"),
                    rx.flex(
                        field("Channel", rx.select.root(rx.select.trigger(id="consent-channel"), rx.select.content(
                            rx.select.item("Email", value="email"), rx.select.item("SMS", value="sms")),
                            value=S.consent_channel, on_change=S.set_consent_channel), "consent-channel"),
                        field("Consent", rx.select.root(rx.select.trigger(id="consent-status"), rx.select.content(
                            rx.select.item("Opted in", value="granted"),
                            rx.select.item("Opted out", value="withdrawn")),
                            value=S.consent_status, on_change=S.set_consent_status), "consent-status"),
                        field("Source", rx.input(name="source", id="consent-source",
                                                 placeholder="e.g. signed form at the counter, 3 May"),
                              "consent-source"),
                        spacing="3", wrap="wrap", width="100%",
                    ),
                    field("Wording they agreed to", rx.text_area(name="wording", id="consent-wording", rows="2",
                                                                 width="100%"), "consent-wording"),
                    form_error(S.consent_error, "consent-error"),
                    rx.button("Save consent", type="submit", id="consent-save"),
                    spacing="2", width="100%",
                ),
                on_submit=S.record_consent, reset_on_submit=True, width="100%",
            )),
            rx.heading("Consent history", as_="h3", size="2"),
            rx.cond(S.history.length() == 0,
                    rx.text("No consent recorded yet: marketing messages to this contact are skipped.", size="2",
                            color=rx.color("gray", 10)),
                    rx.vstack(rx.foreach(S.history, history_item), spacing="0", width="100%", id="consent-history")),
            action=rx.icon_button(rx.icon("x", size=14), variant="ghost", on_click=S.close_detail,
                                  aria_label="Close"),
            id="contact-detail",
        ),
    )


def tools() -> rx.Component:
    return rx.grid(
        section_card(
            "Add a contact",
            rx.form(rx.vstack(
                rx.flex(field("Email", rx.input(name="email", id="add-email", type="email"), "add-email"),
                        field("Mobile", rx.input(name="phone", id="add-phone", placeholder="0412 345 678"),
                              "add-phone"),
                        field("Name", rx.input(name="name", id="add-name"), "add-name"),
                        spacing="3", wrap="wrap", width="100%"),
                form_error(S.add_error, "add-error"),
                rx.button("Add contact", type="submit", disabled=~AuthState.can_edit, id="add-contact"),
                spacing="2", width="100%"), on_submit=S.add_contact, reset_on_submit=True, width="100%"),
        ),
        section_card(
            "Suppress an address",
            rx.text("No marketing goes to a suppressed email or number, consent or not. Unsubscribe links and "
                    "STOP replies add to this list on their own.", size="1", color=rx.color("gray", 10)),
            rx.form(rx.flex(
                rx.select.root(rx.select.trigger(aria_label="Channel"), rx.select.content(
                    rx.select.item("Email", value="email"), rx.select.item("SMS", value="sms")),
                    value=S.suppress_channel, on_change=S.set_suppress_channel),
                rx.input(name="address", placeholder="email or mobile number", id="suppress-address", flex="1",
                         aria_label="Address to suppress"),
                rx.button("Suppress", type="submit", color_scheme="red", variant="soft", disabled=~AuthState.can_edit),
                spacing="2", width="100%", wrap="wrap"), on_submit=S.suppress_address, reset_on_submit=True,
                width="100%"),
            form_error(S.suppress_error, "suppress-error"),
        ),
        section_card(
            "Import CSV",
            rx.text("Columns: email, phone, name, and optionally email_consent / sms_consent (granted or "
                    "withdrawn), consent_source, consent_wording.", size="1", color=rx.color("gray", 10)),
            rx.upload(
                rx.vstack(rx.icon("upload", size=18), rx.text("Drop a .csv here or click to choose", size="2"),
                          align="center", spacing="1"),
                id="contacts-csv", accept={"text/csv": [".csv"]}, max_files=1, multiple=False,
                on_drop=S.import_file(rx.upload_files(upload_id="contacts-csv")),
                border=f"1px dashed {rx.color('gray', 7)}", padding="1rem", border_radius="var(--radius-3)",
                width="100%", cursor="pointer", disabled=~AuthState.can_edit,
            ),
            rx.cond(S.importing, rx.hstack(rx.spinner(size="1"), rx.text("Importing…", size="1"))),
            rx.cond(S.import_summary != "", rx.text(S.import_summary, size="2", id="import-summary")),
            rx.foreach(S.import_errors, lambda e: rx.text(e, size="1", color=rx.color("red", 11))),
        ),
        section_card(
            "Inbound SMS (STOP replies)",
            rx.text("Twilio: set the number's “A message comes in” webhook (HTTP POST) to:", size="1"),
            rx.code(S.twilio_url, size="1", id="twilio-inbound-url", word_break="break-all"),
            rx.text("ClickSend: add an inbound rule with the action URL below (keep it secret).", size="1"),
            rx.cond(S.clicksend_url != "",
                    rx.callout(rx.code(S.clicksend_url, size="1", word_break="break-all", id="clicksend-url"),
                               icon="key_round", color_scheme="amber", size="1",
                               width="100%"),
                    rx.text(rx.cond(S.clicksend_set, "A ClickSend URL is set up (shown only when created).",
                                    "No ClickSend URL yet."), size="1", color=rx.color("gray", 10))),
            rx.cond(AuthState.is_admin, rx.button(rx.cond(S.clicksend_set, "Replace ClickSend URL",
                                                          "Create ClickSend URL"), size="1", variant="soft",
                                                  on_click=S.new_clicksend_secret, id="clicksend-create")),
            form_error(S.inbound_error, "inbound-error"),
        ),
        columns=rx.breakpoints(initial="1", md="2"),
        spacing="4",
        width="100%",
        margin_top="1.5rem",
    )


def contacts_page() -> rx.Component:
    return layout(
        page_heading("Contacts", "People you message, their marketing consent and the suppression list.",
                     rx.button(rx.icon("download", size=14), "Export CSV", variant="soft", on_click=S.export,
                               id="contacts-export")),
        viewer_notice(AuthState.can_edit),
        rx.input(placeholder="Search name, email or phone", value=S.search, on_change=S.set_search.debounce(300),
                 type="search", id="contacts-search", aria_label="Search contacts", width="100%",
                 margin_bottom="1rem"),
        rx.cond(S.notice != "", rx.text(S.notice, size="2", color=rx.color("green", 11), margin_bottom="0.5rem")),
        detail_panel(),
        list_states(
            S.loading, S.load_error, S.items.length() == 0, S.load,
            empty_state("contact", "No contacts yet", "Contacts appear when a workflow records consent "
                        "(Record consent step), when you add or import them, or when someone replies STOP.",
                        id="contacts-empty"),
            contacts_table(),
        ),
        tools(),
        title="Contacts",
        active="/contacts",
    )
