"""Dashboard at "/": headline figures and, until the first workflow exists, an empty state.

Figures are static placeholders for now; the dashboard state will read them from
engine/services once runs exist.
"""

from __future__ import annotations

import reflex as rx

from flowmate_app.components.layout import layout, page_heading


def stat_card(label: str, value: str, icon: str, hint: str) -> rx.Component:
    """One headline figure."""
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.text(label, size="2", weight="medium", color=rx.color("gray", 11)),
                rx.text(value, size="7", weight="bold", color=rx.color("gray", 12)),
                rx.text(hint, size="1", color=rx.color("gray", 10)),
                spacing="1",
            ),
            rx.spacer(),
            rx.center(
                rx.icon(icon, size=18),
                width="2.25rem",
                height="2.25rem",
                border_radius="var(--radius-3)",
                background=rx.color("accent", 3),
                color=rx.color("accent", 11),
            ),
            align="start",
            width="100%",
        ),
        size="2",
    )


def empty_state() -> rx.Component:
    """What a new workspace sees: what a workflow is and the two ways to make one."""
    return rx.card(
        rx.vstack(
            rx.center(
                rx.icon("workflow", size=28),
                width="3.5rem",
                height="3.5rem",
                border_radius="9999px",
                background=rx.color("accent", 3),
                color=rx.color("accent", 11),
            ),
            rx.heading("No workflows yet", as_="h2", size="5"),
            rx.text(
                "A workflow waits for a trigger — a webhook, a schedule or a click — and then runs "
                "its steps: send an email, call an API, update a contact. Start from a template "
                "or build one from scratch.",
                size="2",
                color=rx.color("gray", 11),
                text_align="center",
                max_width="30rem",
            ),
            rx.flex(
                rx.link(
                    rx.button(rx.icon("plus", size=16), "Create workflow", size="3"),
                    href="/workflows",
                ),
                rx.link(
                    rx.button(rx.icon("layout_template", size=16), "Browse templates", size="3", variant="soft"),
                    href="/templates",
                ),
                spacing="3",
                wrap="wrap",
                justify="center",
                padding_top="0.5rem",
            ),
            align="center",
            spacing="3",
            padding_y=["2rem", "3rem"],
            padding_x="1rem",
        ),
        size="3",
        width="100%",
        id="empty-state",
    )


def dashboard_page() -> rx.Component:
    """The landing page of a signed-in user."""
    return layout(
        page_heading(
            "Dashboard",
            "Your automations at a glance.",
            rx.link(rx.button(rx.icon("plus", size=16), "New workflow"), href="/workflows"),
        ),
        rx.grid(
            stat_card("Active workflows", "0", "workflow", "of 0 in total"),
            stat_card("Runs, last 24 h", "0", "activity", "none yet"),
            stat_card("Success rate", "—", "circle_check", "needs a finished run"),
            stat_card("Connections", "0", "plug", "none set up yet"),
            columns=rx.breakpoints(initial="1", xs="2", md="4"),
            spacing="4",
            width="100%",
            margin_bottom="1.5rem",
        ),
        empty_state(),
        title="Dashboard",
        active="/",
    )
