"""The run page's step tree (issue 11): branches side by side (taken highlighted, skipped
greyed), loop iterations as a compact paged list with a "failed only" filter, approvals decided
in place, resume URLs with a copy button, and child runs linked."""

from __future__ import annotations

import reflex as rx

from flowmate_app.components.ui import json_view, status_badge
from flowmate_app.features.approvals.components import approval_card
from flowmate_app.features.runs.state import RunDetailState as D
from flowmate_app.features.runs.tree_view import MAX_TREE_DEPTH, IterationView, LaneRun, RunNode, StepRow

MONO = "var(--code-font-family)"


def step_marker(step: StepRow) -> rx.Component:
    colour = rx.match(step.status, ("succeeded", "green"), ("failed", "red"), ("running", "blue"), "gray")
    return rx.center(
        rx.match(
            step.status,
            ("succeeded", rx.icon("check", size=14)),
            ("failed", rx.icon("x", size=14)),
            ("running", rx.spinner(size="1")),
            ("skipped", rx.icon("skip_forward", size=12)),
            rx.text(step.n, size="1", weight="bold"),
        ),
        width="1.75rem",
        height="1.75rem",
        min_width="1.75rem",
        border_radius="9999px",
        background=rx.color(colour, 3),
        color=rx.color(colour, 11),
        border=f"1px solid {rx.color('gray', 6)}",
    )


def resume_box(step: StepRow) -> rx.Component:
    return rx.cond(
        step.resume_url != "",
        rx.vstack(
            rx.text("Waiting for a POST to its resume URL (usable once):", size="1", color=rx.color("gray", 11)),
            rx.hstack(
                rx.code(step.resume_url, size="1", variant="soft", class_name="resume-url",
                        style={"word_break": "break-all", "padding": "0.35rem 0.5rem"}, flex="1"),
                rx.icon_button(rx.icon("copy", size=14), size="1", variant="soft", type="button",
                               aria_label="Copy resume URL", on_click=D.copy_resume_url(step.resume_url)),
                width="100%",
                align="center",
            ),
            spacing="1",
            width="100%",
        ),
    )


def step_extras(step: StepRow) -> rx.Component:
    """Retries, error, child run, resume URL, approvals and input/output of one step."""
    return rx.fragment(
        rx.cond(step.retries != "", rx.text("Retried after " + step.retries, size="1",
                                            color=rx.color("amber", 11))),
        rx.cond(
            step.error != "",
            rx.callout(step.error, icon=rx.cond(step.warning, "triangle_alert", "circle_x"),
                       color_scheme=rx.cond(step.warning, "amber", "red"), size="1", width="100%",
                       class_name="step-error", style={"word-break": "break-word", "white-space": "pre-wrap"}),
        ),
        rx.cond(step.warning, rx.text("Failed, and the run went on (on_error: continue).", size="1",
                                      color=rx.color("amber", 11))),
        rx.cond(
            step.child_run_id != "",
            rx.hstack(
                rx.icon("workflow", size=14, color=rx.color("gray", 10)),
                rx.text("Child run:", size="1", color=rx.color("gray", 11)),
                rx.link(step.child_name + " #" + step.child_run_id.to(str)[:8], href="/runs/" + step.child_run_id,
                        size="1", class_name="child-run-link"),
                status_badge(step.child_status),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
        ),
        resume_box(step),
        rx.foreach(step.approvals, lambda a: approval_card(a, "run", show_run=False)),
        rx.cond(step.input != "", json_view(step.input, "Input (rendered)")),
        rx.cond(step.output != "", json_view(step.output, "Output")),
    )


def step_header(step: StepRow) -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.text(step.name, size="3", weight="medium", word_break="break-word"),
            rx.text(step.action + " · " + step.path, size="1", color=rx.color("gray", 10), font_family=MONO),
            spacing="0",
            min_width="0",
        ),
        rx.hstack(
            rx.cond(step.duration != "", rx.text(step.duration, size="1", color=rx.color("gray", 11))),
            rx.cond((step.attempts != "0") & (step.status != "skipped"),
                    rx.badge(step.attempts_label, variant="outline", color_scheme="gray", size="1")),
            status_badge(step.status),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        justify="between",
        align="start",
        gap="2",
        wrap="wrap",
        width="100%",
    )


def iteration_step(step: StepRow) -> rx.Component:
    """A step inside one loop iteration: compact, its details folded."""
    return rx.vstack(
        rx.hstack(
            status_badge(step.status),
            rx.text(step.name, size="2", weight="medium"),
            rx.code(step.path, size="1", variant="ghost", color=rx.color("gray", 10)),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        step_extras(step),
        spacing="1",
        width="100%",
        padding="0.4rem 0.6rem",
        border_left=f"2px solid {rx.color('gray', 5)}",
        opacity=rx.cond(step.status == "skipped", "0.55", "1"),
        class_name="iteration-step",
        custom_attrs={"data-path": step.path, "data-status": step.status},
    )


def iteration_row(it: IterationView) -> rx.Component:
    return rx.el.details(
        rx.el.summary(
            rx.hstack(
                rx.text(it.label, size="2", weight="medium", font_family=MONO, min_width="3rem"),
                status_badge(it.status),
                rx.text(it.steps.length().to_string() + " steps", size="1", color=rx.color("gray", 10)),
                spacing="3",
                align="center",
                display="inline-flex",
            ),
            cursor="pointer",
            padding="0.35rem 0.5rem",
        ),
        rx.vstack(rx.foreach(it.steps, iteration_step), spacing="2", width="100%", padding="0.25rem 0 0.5rem 1rem"),
        open=it.status == "failed",
        class_name="iteration-row",
        custom_attrs={"data-iteration": it.index.to_string(), "data-status": it.status},
        style={"border_bottom": f"1px solid {rx.color('gray', 4)}"},
    )


def iterations_panel(node: RunNode) -> rx.Component:
    path = node.row.path
    return rx.vstack(
        rx.flex(
            rx.hstack(
                rx.icon("repeat", size=14, color=rx.color("accent", 11)),
                rx.text(node.iteration_total.to_string() + " iterations", size="2", weight="medium"),
                rx.cond(node.iteration_failed > 0, rx.badge(node.iteration_failed.to_string() + " failed",
                                                            color_scheme="red", variant="soft")),
                spacing="2",
                align="center",
            ),
            rx.el.label(
                rx.hstack(
                    rx.switch(checked=node.failed_only, size="1",
                              on_change=lambda v: D.set_failed_only(path, v)),
                    rx.text("Failed only", size="1"),
                    spacing="1",
                    align="center",
                ),
            ),
            justify="between",
            align="center",
            width="100%",
            wrap="wrap",
            gap="2",
        ),
        rx.cond(
            node.iterations.length() == 0,
            rx.text(rx.cond(node.failed_only, "No iteration failed.", "No iterations yet."), size="1",
                    color=rx.color("gray", 10)),
            rx.box(rx.foreach(node.iterations, iteration_row), width="100%", class_name="iteration-list"),
        ),
        rx.cond(
            node.pages > 1,
            rx.hstack(
                rx.button(rx.icon("chevron_left", size=14), "Previous", size="1", variant="soft",
                          disabled=node.page <= 1, on_click=D.set_loop_page(path, node.page - 1)),
                rx.text("Page " + node.page.to_string() + " of " + node.pages.to_string(), size="1",
                        color=rx.color("gray", 11), class_name="iteration-page"),
                rx.button("Next", rx.icon("chevron_right", size=14), size="1", variant="soft",
                          disabled=node.page >= node.pages, on_click=D.set_loop_page(path, node.page + 1)),
                spacing="2",
                align="center",
            ),
        ),
        spacing="2",
        width="100%",
        padding="0.6rem 0.75rem",
        border_radius="var(--radius-3)",
        background=rx.color("gray", 2),
        border_left=f"3px solid {rx.color('accent', 6)}",
    )


def lane_column(lane: LaneRun, depth: int) -> rx.Component:
    taken = lane.state == "taken"
    return rx.vstack(
        rx.hstack(
            rx.icon("git_branch", size=14),
            rx.text(lane.name, size="2", weight="medium"),
            rx.badge(rx.match(lane.state, ("taken", "taken"), ("skipped", "not taken"), "not decided yet"),
                     color_scheme=rx.cond(taken, "green", "gray"), variant=rx.cond(taken, "solid", "soft"),
                     size="1"),
            spacing="2",
            align="center",
        ),
        rx.cond(lane.nodes.length() == 0, rx.text("No steps", size="1", color=rx.color("gray", 10))),
        rx.foreach(lane.nodes, lambda n: run_node(n, depth + 1)),
        spacing="2",
        min_width="0",
        padding="0.6rem",
        border_radius="var(--radius-3)",
        border=rx.cond(taken, f"2px solid {rx.color('green', 8)}", f"1px dashed {rx.color('gray', 6)}"),
        background=rx.cond(taken, rx.color("green", 2), rx.color("gray", 2)),
        opacity=rx.cond(lane.state == "skipped", "0.6", "1"),
        class_name="branch-lane",
        custom_attrs={"data-branch": lane.key, "data-state": lane.state},
    )


def nested(node: RunNode, depth: int) -> rx.Component:
    if depth + 1 >= MAX_TREE_DEPTH:
        return rx.cond(node.kind == "loop", iterations_panel(node))
    return rx.match(
        node.kind,
        ("branch", rx.box(
            rx.foreach(node.lanes, lambda lane: lane_column(lane, depth)),
            display="grid",
            grid_template_columns="repeat(auto-fit, minmax(min(100%, 14rem), 1fr))",
            gap="0.75rem",
            width="100%",
        )),
        ("loop", iterations_panel(node)),
        rx.fragment(),
    )


def run_node(node: RunNode, depth: int = 0) -> rx.Component:
    step = node.row
    return rx.hstack(
        step_marker(step),
        rx.card(
            rx.vstack(
                step_header(step),
                step_extras(step),
                nested(node, depth),
                spacing="2",
                width="100%",
            ),
            size="2",
            width="100%",
            min_width="0",
        ),
        align="start",
        spacing="3",
        width="100%",
        opacity=rx.cond(step.status == "skipped", "0.6", "1"),
        class_name="step-card",
        custom_attrs={"data-step": step.key, "data-status": step.status, "data-path": step.path,
                      "data-depth": str(depth)},
    )


def run_tree() -> rx.Component:
    return rx.vstack(rx.foreach(D.tree, lambda n: run_node(n, 0)), spacing="3", width="100%", id="run-steps")


def family_links() -> rx.Component:
    """The parent run (this one was started by a call-workflow step) and the runs this one started."""
    return rx.fragment(
        rx.cond(
            D.run["parent_run_id"] != "",
            rx.text("Started by run ", rx.link("#" + D.run["parent_run_id"].to(str)[:8],
                                               href="/runs/" + D.run["parent_run_id"], id="parent-run-link"),
                    " (step ", rx.code(D.run["parent_path"], size="1"), ")", size="2", color=rx.color("gray", 11)),
        ),
        rx.cond(
            D.children.length() > 0,
            rx.vstack(
                rx.text("Runs started by this run", size="1", weight="medium", color=rx.color("gray", 10)),
                rx.foreach(D.children, lambda c: rx.hstack(
                    status_badge(c["status"]),
                    rx.link(c["workflow"] + " #" + c["short_id"], href="/runs/" + c["id"], size="2",
                            class_name="child-run-link"),
                    rx.code(c["path"], size="1", variant="ghost"),
                    spacing="2",
                    align="center",
                )),
                spacing="1",
                id="child-runs",
            ),
        ),
        rx.cond(D.run["warnings"] != "0",
                rx.text(D.run["warnings"] + " step(s) failed and the run went on (on_error: continue)", size="2",
                        color=rx.color("amber", 11), id="run-warnings")),
    )
