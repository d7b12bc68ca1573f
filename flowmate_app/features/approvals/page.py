"""/approvals: flow.approval steps waiting for the signed-in member, decided in place."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import empty_state, list_states, live_poll
from flowmate_app.features.approvals.components import approval_card
from flowmate_app.features.approvals.state import ApprovalsState as S

ROUTE = "/approvals"


def pager() -> rx.Component:
    return rx.cond(
        (S.page_number > 1) | (S.next_cursor != ""),
        rx.flex(
            rx.text("Page ", S.page_number.to_string(), size="2", color=rx.color("gray", 11)),
            rx.hstack(
                rx.button(rx.icon("chevron_left", size=14), "Newer", variant="soft", size="2", on_click=S.newer,
                          disabled=S.page_number == 1, id="approvals-newer"),
                rx.button("Older", rx.icon("chevron_right", size=14), variant="soft", size="2", on_click=S.older,
                          disabled=S.next_cursor == "", id="approvals-older"),
                spacing="2",
            ),
            justify="between",
            align="center",
            width="100%",
            padding_top="0.5rem",
        ),
    )


def approvals_list() -> rx.Component:
    return rx.vstack(
        rx.cond(~AuthState.can_edit, rx.callout(
            "You have view access: you can see what waits, but only editors, admins or owners approve or reject.",
            icon="eye", color_scheme="gray", width="100%", id="approvals-viewer-notice")),
        rx.foreach(S.items, lambda item: approval_card(item, "approvals")),
        pager(),
        spacing="3",
        width="100%",
        id="approval-list",
    )


def approvals_empty() -> rx.Component:
    return rx.cond(
        AuthState.can_edit,
        empty_state("circle_check", "Nothing waits for you",
                    "When a workflow reaches an approval step that your role may decide, it appears here and the "
                    "run waits — without holding anything up — until someone approves or rejects it.",
                    id="approvals-empty"),
        empty_state("eye", "Nothing is waiting for a decision",
                    "You have view access to this workspace: approvals that wait for editors, admins or owners are "
                    "listed here, read-only.",
                    rx.link(rx.button("Go to runs", variant="soft"), href="/runs"), id="approvals-empty"),
    )


def approvals_page() -> rx.Component:
    return layout(
        live_poll(S.reload, 5000),
        page_heading("Approvals", "Runs waiting for a person's OK. Approve or reject, with a comment for the "
                     "record."),
        list_states(S.loading, S.load_error, S.items.length() == 0, S.load, approvals_empty(), approvals_list(), 3),
        title="Approvals",
        active=ROUTE,
    )
