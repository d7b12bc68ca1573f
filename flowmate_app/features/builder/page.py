"""The workflow builder page at /workflows/[id] (``/workflows/new`` starts a blank workflow)."""

from __future__ import annotations

import reflex as rx

from flowmate_app.components.layout import layout
from flowmate_app.features.builder.components import (
    UNSAVED_GUARD_JS,
    banners,
    builder_header,
    settings_card,
    steps_section,
    test_run_card,
    trigger_card,
)
from flowmate_app.features.builder.state import BuilderState

ROUTE = "/workflows/[id]"


def _loading() -> rx.Component:
    return rx.center(rx.hstack(rx.spinner(), rx.text("Loading workflow…", color=rx.color("gray", 11))),
                     padding_y="4rem", width="100%")


def _not_found() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon("file_question", size=28, color=rx.color("gray", 9)),
            rx.heading("Workflow not found", as_="h1", size="5"),
            rx.text(BuilderState.load_error, size="2", color=rx.color("gray", 11)),
            rx.link(rx.button("Back to workflows", variant="soft"), href="/workflows"),
            align="center",
            spacing="3",
            padding_y="3rem",
        ),
        width="100%",
    )


def builder_body() -> rx.Component:
    return rx.fragment(
        builder_header(),
        banners(),
        rx.grid(
            rx.vstack(trigger_card(), steps_section(), spacing="5", width="100%", min_width="0",
                      grid_column=rx.breakpoints(initial="auto", lg="span 2")),
            rx.vstack(test_run_card(), settings_card(), spacing="5", width="100%", min_width="0"),
            columns=rx.breakpoints(initial="1", lg="3"),
            spacing="5",
            width="100%",
            align_items="start",
        ),
    )


def builder_page() -> rx.Component:
    return layout(
        rx.script(UNSAVED_GUARD_JS),
        rx.cond(
            BuilderState.load_error != "",
            _not_found(),
            rx.cond(BuilderState.loaded, builder_body(), _loading()),
        ),
        title="Workflow builder",
        active="/workflows",
    )
