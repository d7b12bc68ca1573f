"""/runs (filtered history) and /runs/<id> (one run, step by step). Both update live."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import (
    empty_state,
    error_callout,
    filter_bar,
    filter_select,
    json_view,
    list_states,
    loading_rows,
    status_badge,
)
from flowmate_app.features.runs.state import RANGES, STATUSES, RunDetailState, RunsState
from flowmate_app.features.runs.tree_page import family_links, run_tree

S = RunsState
D = RunDetailState

# ------------------------------------------------------------------------------------ list


def filters() -> rx.Component:
    return filter_bar(
        filter_select("Workflow", S.filter_workflow, S.set_filter_workflow, [("all", "All workflows")],
                      dynamic=S.workflow_options, id="filter-workflow"),
        filter_select("Status", S.filter_status, S.set_filter_status,
                      [("all", "Any status"), *[(s, s.capitalize()) for s in STATUSES]], id="filter-status"),
        filter_select("Time", S.filter_range, S.set_filter_range, [(k, v[0]) for k, v in RANGES.items()],
                      id="filter-range"),
        rx.cond(S.filtered, rx.button("Clear filters", variant="ghost", size="2", on_click=S.clear_filters,
                                      align_self="end", margin_bottom="0.25rem")),
    )


def run_row(r: rx.Var) -> rx.Component:
    return rx.link(
        rx.flex(
            rx.hstack(
                rx.box(status_badge(r["status"]), min_width="6.5rem"),
                rx.vstack(
                    rx.text(r["workflow"], size="2", weight="medium", color=rx.color("gray", 12),
                            overflow="hidden", text_overflow="ellipsis", white_space="nowrap", max_width="100%"),
                    rx.text(r["trigger"] + " · #" + r["short_id"], size="1", color=rx.color("gray", 10),
                            font_family="var(--code-font-family)"),
                    spacing="0",
                    min_width="0",
                ),
                spacing="3",
                align="center",
                flex="1",
                min_width="0",
            ),
            rx.hstack(
                rx.vstack(
                    rx.text(r["created"], size="1", color=rx.color("gray", 11), white_space="nowrap"),
                    rx.text(r["ago"], size="1", color=rx.color("gray", 10)),
                    spacing="0",
                    align=rx.breakpoints(initial="start", sm="end"),
                ),
                rx.hstack(
                    rx.icon("timer", size=14, color=rx.color("gray", 10)),
                    rx.text(r["duration"], size="1", color=rx.color("gray", 11), white_space="nowrap"),
                    spacing="1",
                    align="center",
                    min_width="5.5rem",
                    justify="end",
                ),
                spacing="4",
                align="center",
                justify=rx.breakpoints(initial="between", sm="end"),
                width=rx.breakpoints(initial="100%", sm="auto"),
            ),
            direction=rx.breakpoints(initial="column", sm="row"),
            align=rx.breakpoints(initial="stretch", sm="center"),
            gap="2",
            padding="0.75rem 1rem",
            border_bottom=f"1px solid {rx.color('gray', 4)}",
            _hover={"background": rx.color("gray", 2)},
        ),
        href="/runs/" + r["id"],
        underline="none",
        display="block",
        class_name="run-row",
        custom_attrs={"data-status": r["status"], "data-run-id": r["id"]},
    )


def pager() -> rx.Component:
    return rx.flex(
        rx.text("Page ", S.page_number.to_string(), size="2", color=rx.color("gray", 11)),
        rx.hstack(
            rx.button(rx.icon("chevrons_left", size=14), "Newest", variant="soft", color_scheme="gray", size="2",
                      on_click=S.first_page, disabled=S.page_number == 1),
            rx.button(rx.icon("chevron_left", size=14), "Newer", variant="soft", size="2", on_click=S.newer,
                      disabled=S.page_number == 1, id="runs-newer"),
            rx.button("Older", rx.icon("chevron_right", size=14), variant="soft", size="2", on_click=S.older,
                      disabled=S.next_cursor == "", id="runs-older"),
            spacing="2",
        ),
        justify="between",
        align="center",
        padding="0.75rem 1rem",
        wrap="wrap",
        gap="2",
    )


def runs_list() -> rx.Component:
    return rx.card(
        rx.foreach(S.rows, run_row),
        pager(),
        size="1",
        padding="0",
        overflow="hidden",
        width="100%",
        id="run-list",
    )


def runs_empty() -> rx.Component:
    return rx.cond(
        S.filtered,
        empty_state("filter_x", "No runs match these filters", "Widen the time range or clear the filters.",
                    rx.button("Clear filters", variant="soft", on_click=S.clear_filters), id="runs-empty"),
        empty_state("activity", "No runs yet",
                    "Runs appear here the moment a webhook arrives, a schedule fires or someone clicks Run — "
                    "live, without reloading.",
                    rx.link(rx.button(rx.icon("workflow", size=16), "Go to workflows", variant="soft"),
                            href="/workflows"),
                    id="runs-empty"),
    )


def runs_page() -> rx.Component:
    return layout(
        page_heading("Runs", "Every execution, live, with step-by-step details."),
        filters(),
        list_states(S.loading, S.load_error, S.rows.length() == 0, S.retry, runs_empty(), runs_list(), 6),
        title="Runs",
        active="/runs",
    )


# ------------------------------------------------------------------------------------ detail


def meta(label: str, value: rx.Var | rx.Component) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color=rx.color("gray", 10), weight="medium"),
        value if isinstance(value, rx.Component) else rx.text(value, size="2"),
        spacing="1",
        min_width="0",
    )


def run_actions() -> rx.Component:
    return rx.cond(
        AuthState.can_edit,
        rx.hstack(
            rx.cond(
                D.in_flight,
                rx.alert_dialog.root(
                    rx.alert_dialog.trigger(
                        rx.button(rx.icon("square", size=14), "Cancel run", color_scheme="red", variant="soft",
                                  id="cancel-run"),
                    ),
                    rx.alert_dialog.content(
                        rx.alert_dialog.title("Cancel this run?"),
                        rx.alert_dialog.description(
                            "A step that is already running finishes; nothing after it runs.", size="2"),
                        rx.flex(
                            rx.alert_dialog.cancel(rx.button("Keep running", variant="soft", color_scheme="gray")),
                            rx.alert_dialog.action(rx.button("Cancel run", color_scheme="red", on_click=D.cancel,
                                                             class_name="confirm-action")),
                            spacing="3",
                            justify="end",
                            margin_top="1rem",
                        ),
                        max_width="28rem",
                    ),
                    open=D.cancel_open,
                    on_open_change=D.set_cancel_open,
                ),
            ),
            rx.button(rx.icon("rotate_ccw", size=14), "Re-run", on_click=D.rerun, loading=D.acting, id="rerun"),
            spacing="2",
        ),
    )


def run_summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.hstack(
                    status_badge(D.run["status"], size="2"),
                    rx.cond(D.in_flight, rx.hstack(rx.spinner(size="1"), rx.text("Live", size="1"),
                                                   spacing="1", align="center", color=rx.color("blue", 11))),
                    spacing="2",
                    align="center",
                    id="run-status",
                ),
                run_actions(),
                justify="between",
                align="center",
                wrap="wrap",
                gap="3",
                width="100%",
            ),
            rx.grid(
                meta("Workflow", rx.link(D.run["workflow"], href="/workflows/" + D.run["workflow_id"], size="2")),
                meta("Trigger", D.run["trigger"] + " · " + D.run["version"]),
                meta("Started", D.run["started"]),
                meta("Finished", D.run["finished"]),
                meta("Duration", D.run["duration"]),
                meta("Attempt", D.run["attempt"]),
                columns=rx.breakpoints(initial="2", md="3"),
                spacing="4",
                width="100%",
            ),
            family_links(),
            rx.cond(D.run["rerun_of"] != "",
                    rx.text("Re-run of ", rx.link(D.run["rerun_of"], href="/runs/" + D.run["rerun_of"]), size="1",
                            color=rx.color("gray", 11))),
            rx.cond(D.run["next_attempt"] != "",
                    rx.text("Next attempt at " + D.run["next_attempt"], size="2", color=rx.color("amber", 11))),
            rx.cond(D.run["error"] != "",
                    rx.callout(D.run["error"], icon="circle_x", color_scheme="red", width="100%",
                               style={"word-break": "break-word", "white-space": "pre-wrap"}, id="run-error")),
            rx.cond(D.run["result"] != "",
                    rx.text(D.run["result"], size="2", color=rx.color("gray", 11))),
            json_view(D.trigger_json, "Trigger data"),
            spacing="4",
            width="100%",
        ),
        size="3",
        width="100%",
    )


def run_detail_page() -> rx.Component:
    return layout(
        rx.link(rx.hstack(rx.icon("arrow_left", size=14), rx.text("All runs", size="2"), spacing="1", align="center"),
                href="/runs", color=rx.color("gray", 11), margin_bottom="0.75rem", display="inline-block"),
        rx.cond(
            D.not_found,
            empty_state("search_x", "Run not found", "It may have been deleted with its workflow, or it belongs to "
                        "another workspace.", rx.link(rx.button("Back to runs", variant="soft"), href="/runs")),
            rx.cond(
                D.detail_error != "",
                error_callout(D.detail_error, D.load),
                rx.cond(
                    D.detail_loading,
                    loading_rows(4, "5rem"),
                    rx.vstack(
                        page_heading(D.run["workflow"], "Run #" + D.run["id"].to(str)[:8] + " · " + D.run["created"]),
                        run_summary(),
                        rx.heading("Steps", as_="h2", size="4", margin_top="0.5rem"),
                        rx.cond(
                            D.tree.length() > 0,
                            run_tree(),
                            rx.text("This workflow has no steps.", size="2", color=rx.color("gray", 11)),
                        ),
                        spacing="3",
                        width="100%",
                    ),
                ),
            ),
        ),
        title="Run",
        active="/runs",
    )
