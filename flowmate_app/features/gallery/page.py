"""The template gallery at /templates: find a ready-made workflow, preview it, fill its variables."""

from __future__ import annotations

import reflex as rx

from flowmate_app.components.layout import layout, page_heading
from flowmate_app.features.gallery.logic import PreviewStep, TemplateCard, VariableField
from flowmate_app.features.gallery.state import GalleryState as G

CATEGORY_ICONS = (
    ("Billing", rx.icon("receipt", size=18)),
    ("Bookings", rx.icon("calendar_check", size=18)),
    ("Customer service", rx.icon("headset", size=18)),
    ("E-commerce", rx.icon("shopping_cart", size=18)),
    ("Integrations", rx.icon("plug", size=18)),
    ("Marketing", rx.icon("megaphone", size=18)),
    ("Notifications", rx.icon("bell", size=18)),
    ("Operations", rx.icon("settings_2", size=18)),
    ("Reporting", rx.icon("chart_column", size=18)),
    ("Sales", rx.icon("handshake", size=18)),
)


def category_icon(category: rx.Var) -> rx.Component:
    return rx.center(
        rx.match(category, *CATEGORY_ICONS, rx.icon("layout_template", size=18)),
        width="2.25rem",
        height="2.25rem",
        min_width="2.25rem",
        border_radius="var(--radius-3)",
        background=rx.color("accent", 3),
        color=rx.color("accent", 11),
    )


def trigger_badge(label: rx.Var, trigger_type: rx.Var) -> rx.Component:
    return rx.badge(
        rx.match(trigger_type, ("webhook", rx.icon("webhook", size=12)), ("cron", rx.icon("calendar_clock", size=12)),
                 rx.icon("mouse_pointer_click", size=12)),
        label,
        variant="soft",
        color_scheme="gray",
    )


def filters() -> rx.Component:
    def chip(label: rx.Var | str, value: rx.Var | str) -> rx.Component:
        active = G.category == value
        return rx.button(
            label,
            size="1",
            radius="full",
            variant=rx.cond(active, "solid", "soft"),
            color_scheme=rx.cond(active, "violet", "gray"),
            on_click=G.set_category(value),
            aria_pressed=rx.cond(active, "true", "false"),
            type="button",
        )

    return rx.vstack(
        rx.input(
            rx.input.slot(rx.icon("search", size=16)),
            value=G.search,
            on_change=G.set_search,
            placeholder="Search templates: lead, invoice, SMS, Slack…",
            aria_label="Search templates",
            type="search",
            size="3",
            width="100%",
        ),
        rx.flex(
            chip("All", ""),
            rx.foreach(G.categories, lambda c: chip(c, c)),
            wrap="wrap",
            spacing="2",
            role="group",
            aria_label="Filter by category",
        ),
        rx.text(G.result_label, size="1", color=rx.color("gray", 10)),
        spacing="3",
        width="100%",
        margin_bottom="1.25rem",
    )


def template_card(t: TemplateCard) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                category_icon(t.category),
                rx.vstack(
                    rx.heading(t.name, as_="h2", size="3", weight="bold"),
                    rx.text(t.category, size="1", color=rx.color("gray", 10)),
                    spacing="1",
                    min_width="0",
                ),
                spacing="3",
                align="start",
                width="100%",
            ),
            rx.text(t.description, size="2", color=rx.color("gray", 11)),
            rx.flex(
                trigger_badge(t.trigger_label, t.trigger_type),
                rx.badge(t.step_count.to_string() + " steps", variant="soft", color_scheme="gray"),
                rx.foreach(t.connection_types, lambda c: rx.badge(rx.icon("plug", size=11), c, variant="outline",
                                                                   color_scheme="gray")),
                wrap="wrap",
                spacing="1",
            ),
            rx.spacer(),
            rx.hstack(
                rx.button("Preview", variant="soft", color_scheme="gray", on_click=G.open_template(t.slug, "preview"),
                          aria_label="Preview " + t.name, type="button"),
                rx.cond(
                    G.can_edit,
                    rx.button(rx.icon("sparkles", size=14), "Use template", on_click=G.open_template(t.slug, "form"),
                              aria_label="Use template " + t.name, type="button"),
                ),
                spacing="2",
                width="100%",
                justify="end",
            ),
            spacing="3",
            height="100%",
        ),
        size="2",
        height="100%",
        custom_attrs={"data-template": t.slug},
    )


def preview_step(step: PreviewStep) -> rx.Component:
    return rx.hstack(
        rx.center(rx.text(step.number, size="1", weight="bold"), width="1.5rem", height="1.5rem", min_width="1.5rem",
                  border_radius="9999px", background=rx.color("accent", 3), color=rx.color("accent", 11)),
        rx.vstack(
            rx.text(rx.cond(step.name != "", step.name, step.action_title), size="2", weight="medium"),
            rx.text(step.action_title, " · ", rx.code(step.action, variant="ghost", size="1"), size="1",
                    color=rx.color("gray", 10)),
            rx.cond(step.when != "", rx.text("Only when ", rx.code(step.when, size="1"), size="1",
                                             color=rx.color("gray", 10))),
            spacing="0",
            min_width="0",
        ),
        spacing="3",
        align="start",
        width="100%",
    )


def preview_body() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.text("Trigger:", size="2", weight="medium"), rx.badge(G.t_trigger, variant="soft"),
                  align="center", spacing="2"),
        rx.vstack(rx.foreach(G.t_steps, preview_step), spacing="3", width="100%", role="list",
                  aria_label="Template steps", id="template-steps"),
        rx.cond(
            G.t_connections.length() > 0,
            rx.callout.root(
                rx.callout.icon(rx.icon("plug")),
                rx.vstack(
                    rx.callout.text("Needs these connections:"),
                    rx.foreach(G.t_connections, lambda c: rx.text("• " + c, size="1")),
                    spacing="1",
                ),
                color_scheme="gray",
                size="1",
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )


def variable_control(f: VariableField) -> rx.Component:
    text = rx.input(id=f.input_id, value=f.value, on_change=lambda v: G.set_variable(f.name, v), width="100%",
                    placeholder=f.hint, aria_invalid=rx.cond(f.error != "", "true", "false"))
    return rx.match(
        f.kind,
        ("bool", rx.switch(id=f.input_id, checked=f.checked, on_change=lambda v: G.set_variable_bool(f.name, v))),
        ("enum", "connection", rx.select(f.options, value=f.value, on_change=lambda v: G.set_variable(f.name, v),
                                         id=f.input_id, width="100%")),
        ("textarea", rx.text_area(id=f.input_id, value=f.value, on_change=lambda v: G.set_variable(f.name, v),
                                  rows="3", width="100%")),
        ("number", rx.input(id=f.input_id, value=f.value, on_change=lambda v: G.set_variable(f.name, v),
                            input_mode="numeric", width="100%")),
        text,
    )


def variable_field(f: VariableField) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.el.label(rx.text(f.title, size="2", weight="medium"), html_for=f.input_id),
            rx.cond(f.required & (f.kind != "bool"), rx.text("*", size="2", color=rx.color("red", 10),
                                                             aria_hidden="true")),
            spacing="1",
        ),
        variable_control(f),
        rx.cond(
            f.error != "",
            rx.hstack(rx.icon("circle_alert", size=13, flex_shrink="0", margin_top="2px"), rx.text(f.error, size="1"),
                      spacing="1", color=rx.color("red", 11), role="alert"),
        ),
        rx.cond((f.hint != "") & (f.type == "connection"), rx.text(f.hint, size="1", color=rx.color("amber", 11))),
        rx.text(f.description, size="1", color=rx.color("gray", 10)),
        spacing="1",
        width="100%",
        custom_attrs={"data-variable": f.name},
    )


def form_body() -> rx.Component:
    return rx.vstack(
        rx.vstack(
            rx.el.label(rx.text("Workflow name", size="2", weight="medium"), html_for="new-workflow-name"),
            rx.input(id="new-workflow-name", value=G.workflow_name, on_change=G.set_workflow_name, width="100%"),
            spacing="1",
            width="100%",
        ),
        rx.foreach(G.fields, variable_field),
        rx.cond(
            G.form_error != "",
            rx.callout.root(
                rx.callout.icon(rx.icon("triangle_alert")),
                rx.vstack(rx.callout.text(G.form_error, id="template-form-error"),
                          rx.foreach(G.form_details, lambda m: rx.text(m, size="1")), spacing="1"),
                color_scheme="red",
                width="100%",
                role="alert",
            ),
        ),
        spacing="4",
        width="100%",
    )


def template_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.vstack(
                rx.hstack(
                    category_icon(G.t_category),
                    rx.vstack(
                        rx.dialog.title(G.t_name, size="5", margin="0"),
                        rx.text(G.t_category, size="1", color=rx.color("gray", 10)),
                        spacing="1",
                    ),
                    spacing="3",
                    align="start",
                ),
                rx.dialog.description(G.t_description, size="2", color=rx.color("gray", 11)),
                rx.cond(G.mode == "form", form_body(), preview_body()),
                rx.flex(
                    rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
                    rx.cond(
                        G.mode == "form",
                        rx.hstack(
                            rx.button("Back to preview", variant="ghost", on_click=G.show_preview, type="button"),
                            rx.button(
                                rx.cond(G.creating, rx.spinner(size="2"), rx.icon("sparkles", size=14)),
                                "Create workflow",
                                on_click=G.create,
                                disabled=G.creating,
                                type="button",
                            ),
                            spacing="2",
                        ),
                        rx.cond(G.can_edit, rx.button("Use template", on_click=G.show_form, type="button"),
                                rx.text("Viewers cannot create workflows.", size="2", color=rx.color("gray", 10))),
                    ),
                    justify="between",
                    align="center",
                    wrap="wrap",
                    gap="2",
                    width="100%",
                ),
                spacing="4",
                width="100%",
            ),
            max_width="36rem",
            width="calc(100vw - 1.5rem)",
        ),
        open=G.dialog_open,
        on_open_change=G.set_dialog_open,
    )


def empty_results() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon("search_x", size=26, color=rx.color("gray", 9)),
            rx.text("No template matches", weight="medium"),
            rx.text("Try another word, or a different category.", size="2", color=rx.color("gray", 11)),
            rx.button("Clear filters", variant="soft", on_click=G.clear_filters, type="button"),
            align="center",
            spacing="2",
            padding_y="2.5rem",
        ),
        width="100%",
    )


def gallery_page() -> rx.Component:
    return layout(
        page_heading("Templates", "Ready-made workflows for Australian small businesses: pick one, adjust, go."),
        filters(),
        rx.cond(G.load_error != "", rx.callout(G.load_error, color_scheme="red", icon="triangle_alert",
                                               margin_bottom="1rem")),
        rx.cond(
            ~G.loaded,
            rx.center(rx.spinner(), padding_y="3rem", width="100%"),
            rx.cond(
                G.templates.length() == 0,
                empty_results(),
                rx.grid(
                    rx.foreach(G.templates, template_card),
                    columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                    spacing="4",
                    width="100%",
                ),
            ),
        ),
        template_dialog(),
        title="Templates",
        active="/templates",
    )
