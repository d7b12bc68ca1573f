"""Dashboard at "/": runs today and this week, success rate, p50 duration, runs per day by
status, failed runs needing attention and the busiest workflows — refreshed live."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import error_callout, icon_disc, loading_rows, section_card
from flowmate_app.features.dashboard.state import DashboardState as S

CHART_COLOURS = {"succeeded": "var(--green-9)", "failed": "var(--red-9)", "cancelled": "var(--gray-8)",
                 "in_flight": "var(--blue-9)"}


def stat_card(label: str, value: rx.Var | str, icon: str, hint: rx.Var | str, colour: str = "accent",
              id: str = "") -> rx.Component:
    """One headline figure."""
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.text(label, size="2", weight="medium", color=rx.color("gray", 11)),
                rx.text(value, size="7", weight="bold", color=rx.color("gray", 12), class_name="stat-value"),
                rx.text(hint, size="1", color=rx.color("gray", 10)),
                spacing="1",
                min_width="0",
            ),
            rx.spacer(),
            icon_disc(icon, colour, size="2.25rem", icon_size=18),
            align="start",
            width="100%",
        ),
        size="2",
        **({"id": id} if id else {}),
    )


def empty_state() -> rx.Component:
    """What a new workspace sees: what a workflow is and the two ways to make one."""
    return rx.card(
        rx.vstack(
            icon_disc("workflow"),
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


def legend_item(label: str, colour: str) -> rx.Component:
    return rx.hstack(
        rx.box(width="0.625rem", height="0.625rem", border_radius="2px", background=colour),
        rx.text(label, size="1", color=rx.color("gray", 11)),
        spacing="1",
        align="center",
    )


def runs_chart() -> rx.Component:
    return section_card(
        "Runs per day",
        rx.box(
            rx.recharts.bar_chart(
                rx.recharts.cartesian_grid(vertical=False, stroke="var(--gray-5)", stroke_dasharray="3 3"),
                rx.recharts.x_axis(data_key="day", stroke="var(--gray-9)", font_size=12, tick_line=False),
                rx.recharts.y_axis(allow_decimals=False, stroke="var(--gray-9)", font_size=12, width=36,
                                   tick_line=False, axis_line=False),
                rx.recharts.graphing_tooltip(
                    cursor={"fill": "var(--gray-a3)"},
                    content_style={"background": "var(--color-panel-solid)", "border": "1px solid var(--gray-6)",
                                   "borderRadius": "8px", "fontSize": "12px"},
                ),
                *[
                    rx.recharts.bar(data_key=key, name=key.replace("_", " "), stack_id="runs", fill=colour,
                                    is_animation_active=False, max_bar_size=42)
                    for key, colour in CHART_COLOURS.items()
                ],
                data=S.chart,
                margin={"top": 8, "right": 8, "left": 0, "bottom": 0},
                width="100%",
                height=240,
            ),
            width="100%",
            height="240px",
            aria_label="Bar chart of runs per day by status, last 7 days",
            role="img",
        ),
        rx.flex(
            *[legend_item(k.replace("_", " "), c) for k, c in CHART_COLOURS.items()],
            spacing="4",
            wrap="wrap",
        ),
        id="runs-chart",
    )


def failed_row(run: rx.Var) -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.icon("circle_x", size=16, color=rx.color("red", 10), flex_shrink="0", margin_top="2px"),
            rx.vstack(
                rx.hstack(
                    rx.text(run["workflow"], size="2", weight="medium", color=rx.color("gray", 12), trim="both"),
                    rx.text(run["ago"], size="1", color=rx.color("gray", 10), white_space="nowrap"),
                    justify="between",
                    width="100%",
                    spacing="2",
                ),
                rx.text(run["error"], size="1", color=rx.color("gray", 11), class_name="clamp-2",
                        style={"display": "-webkit-box", "-webkit-line-clamp": "2",
                               "-webkit-box-orient": "vertical", "overflow": "hidden", "word-break": "break-word"}),
                spacing="1",
                width="100%",
                min_width="0",
            ),
            align="start",
            spacing="2",
            padding="0.5rem",
            border_radius="var(--radius-2)",
            _hover={"background": rx.color("gray", 3)},
            width="100%",
        ),
        href="/runs/" + run["id"],
        underline="none",
        width="100%",
    )


def attention_panel() -> rx.Component:
    return section_card(
        "Needs attention",
        rx.cond(
            S.failed_recent.length() > 0,
            rx.vstack(rx.foreach(S.failed_recent, failed_row), spacing="1", width="100%"),
            rx.hstack(
                rx.icon("circle_check", size=16, color=rx.color("green", 10)),
                rx.text("No failed runs in the last 7 days.", size="2", color=rx.color("gray", 11)),
                spacing="2",
                align="center",
                padding_y="0.5rem",
            ),
        ),
        action=rx.link("All failed runs", href="/runs?status=failed", size="2"),
        id="needs-attention",
    )


def top_row(wf: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.link(wf["name"], href="/workflows/" + wf["id"], size="2", weight="medium", line_height="1.5",
                    overflow="hidden", text_overflow="ellipsis", white_space="nowrap"),
            rx.text(wf["runs"], size="1", color=rx.color("gray", 11), white_space="nowrap"),
            justify="between",
            width="100%",
            spacing="2",
        ),
        rx.box(
            rx.box(height="100%", width=wf["share"], background=rx.color("accent", 9), border_radius="9999px"),
            height="6px",
            width="100%",
            background=rx.color("gray", 4),
            border_radius="9999px",
        ),
        spacing="1",
        width="100%",
    )


def top_panel() -> rx.Component:
    return section_card(
        "Most active workflows",
        rx.cond(
            S.top_workflows.length() > 0,
            rx.vstack(rx.foreach(S.top_workflows, top_row), spacing="3", width="100%"),
            rx.text("No runs in the last 7 days.", size="2", color=rx.color("gray", 11), padding_y="0.5rem"),
        ),
        id="top-workflows",
    )


def figures() -> rx.Component:
    return rx.grid(
        stat_card("Runs today", S.runs_today.to_string(), "activity", S.runs_week.to_string() + " in the last 7 days",
                  id="stat-runs-today"),
        stat_card("Success rate", S.success_rate, "circle_check", S.success_hint, "green", id="stat-success"),
        stat_card("Failed, 7 days", S.failed_week.to_string(), "circle_x",
                  rx.cond(S.failed_week > 0, "need attention", "all good"), "red", id="stat-failed"),
        stat_card("p50 duration", S.p50, "timer", S.p50_hint, "blue", id="stat-p50"),
        columns=rx.breakpoints(initial="1", xs="2", md="4"),
        spacing="4",
        width="100%",
    )


def live_badge() -> rx.Component:
    return rx.badge(
        rx.box(width="6px", height="6px", border_radius="9999px", background=rx.color("green", 9),
               class_name="live-dot"),
        rx.cond(S.in_flight > 0, S.in_flight.to_string() + " in flight", "Live"),
        color_scheme="green",
        variant="soft",
        radius="full",
        size="2",
        id="live-badge",
    )


def dashboard_page() -> rx.Component:
    """The landing page of a signed-in user."""
    return layout(
        page_heading(
            "Dashboard",
            "Your automations at a glance.",
            live_badge(),
            rx.cond(
                AuthState.can_edit,
                rx.link(rx.button(rx.icon("plus", size=16), "New workflow"), href="/workflows"),
            ),
        ),
        rx.cond(S.load_error != "", rx.box(error_callout(S.load_error, S.load), margin_bottom="1rem")),
        rx.cond(
            S.loading,
            loading_rows(3, "6rem"),
            rx.vstack(
                figures(),
                rx.cond(
                    S.workflows_total == 0,
                    empty_state(),
                    rx.grid(
                        rx.box(runs_chart(), grid_column=rx.breakpoints(initial="auto", md="span 2")),
                        attention_panel(),
                        top_panel(),
                        rx.card(
                            rx.vstack(
                                rx.text("Workflows", size="2", weight="medium", color=rx.color("gray", 11)),
                                rx.text(S.workflows_enabled.to_string() + " of " + S.workflows_total.to_string()
                                        + " enabled", size="4", weight="bold"),
                                rx.text(S.connections.to_string()
                                        + rx.cond(S.connections == 1, " connection", " connections"), size="2",
                                        color=rx.color("gray", 11)),
                                rx.link("Manage workflows", href="/workflows", size="2"),
                                spacing="2",
                            ),
                            size="2",
                        ),
                        columns=rx.breakpoints(initial="1", md="3"),
                        spacing="4",
                        width="100%",
                    ),
                ),
                spacing="4",
                width="100%",
            ),
        ),
        title="Dashboard",
        active="/",
    )
