"""/audit: the workspace's audit trail with filters."""

from __future__ import annotations

import reflex as rx

from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import empty_state, filter_bar, filter_select, json_view, list_states
from flowmate_app.features.audit.state import AREAS, RANGES
from flowmate_app.features.audit.state import AuditState as S


def filters() -> rx.Component:
    return filter_bar(
        filter_select("Area", S.filter_area, S.set_filter_area, list(AREAS.items()), id="audit-area"),
        filter_select("Time", S.filter_range, S.set_filter_range, [(k, v[0]) for k, v in RANGES.items()],
                      id="audit-range"),
        rx.vstack(
            rx.text("Who", size="1", weight="medium", color=rx.color("gray", 11), as_="label", html_for="audit-who"),
            rx.input(id="audit-who", placeholder="email or token", value=S.filter_who,
                     on_change=S.set_filter_who.debounce(300), type="search", width="100%"),
            spacing="1",
            width=rx.breakpoints(initial="100%", sm="14rem"),
        ),
    )


def entry(e: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.flex(
            rx.hstack(
                rx.badge(e["action"], variant="soft", size="2", font_family="var(--code-font-family)"),
                rx.text(e["actor"], size="2", weight="medium", overflow="hidden", text_overflow="ellipsis",
                        white_space="nowrap", min_width="0"),
                spacing="2",
                align="center",
                min_width="0",
                wrap="wrap",
            ),
            rx.text(e["when"] + " · " + e["ago"], size="1", color=rx.color("gray", 10), white_space="nowrap"),
            justify="between",
            align=rx.breakpoints(initial="start", sm="center"),
            direction=rx.breakpoints(initial="column", sm="row"),
            gap="1",
            width="100%",
        ),
        rx.text(e["object_type"] + rx.cond(e["object_id"] != "", " " + e["object_id"], ""), size="1",
                color=rx.color("gray", 10), font_family="var(--code-font-family)"),
        rx.cond(e["changes"] != "", json_view(e["changes"], "Changes", max_height="14rem")),
        spacing="1",
        padding="0.75rem 1rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        width="100%",
        class_name="audit-entry",
    )


def audit_page() -> rx.Component:
    return layout(
        page_heading("Audit log", "Who changed what, and when."),
        filters(),
        list_states(
            S.loading, S.load_error, S.entries.length() == 0, S.load,
            empty_state("scroll_text", "Nothing recorded here", "Every change to workflows, connections, members and "
                        "settings is recorded with who made it. Nothing matches these filters.", id="audit-empty"),
            rx.card(
                rx.foreach(S.entries, entry),
                rx.cond(S.next_cursor != "", rx.center(rx.button("Load more", variant="soft", on_click=S.load_more,
                                                                 loading=S.loading_more), padding="0.75rem")),
                size="1", padding="0", overflow="hidden", width="100%", id="audit-list",
            ),
            6,
        ),
        title="Audit log",
        active="/audit",
    )
