"""Shared building blocks of the FlowMate pages: status badges, list states, confirm dialogs, JSON.

Every list page uses the same three non-happy states (loading skeleton, error with retry, empty
with a next step) so the product feels consistent, and every destructive action goes through
``confirm_dialog``.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from engine.states import STATUS_STYLE

#: Colour and icon per run/step state, from the engine's state table (engine/states.py).
STATUS_COLOURS: dict[str, str] = {str(name): colour for name, (colour, _icon) in STATUS_STYLE.items()}
STATUS_ICONS: dict[str, str] = {str(name): icon for name, (_colour, icon) in STATUS_STYLE.items()}


def status_badge(status: rx.Var | str, size: str = "1") -> rx.Component:
    """The one badge for a run or step status (icon + word, so colour is never the only cue).

    Every page (runs list and detail, workflows list, builder test panel) uses this one, so a
    state added to engine/states.py shows the same way everywhere.
    """
    return rx.match(
        status,
        *[
            (
                name,
                rx.badge(
                    rx.spinner(size="1") if name == "running" else rx.icon(STATUS_ICONS[name], size=12),
                    name,
                    color_scheme=colour,
                    variant="soft",
                    size=size,
                    radius="full",
                ),
            )
            for name, colour in STATUS_COLOURS.items()
        ],
        rx.badge(rx.icon("circle_dashed", size=12), status, color_scheme="gray", variant="outline", size=size,
                 radius="full"),
    )


def icon_disc(icon: str, colour: str = "accent", size: str = "3.5rem", icon_size: int = 28) -> rx.Component:
    return rx.center(
        rx.icon(icon, size=icon_size),
        width=size,
        height=size,
        min_width=size,
        border_radius="9999px",
        background=rx.color(colour, 3),
        color=rx.color(colour, 11),
    )


def empty_state(icon: str, title: str, text: str, *actions: rx.Component, id: str = "") -> rx.Component:
    """What a list shows when there is nothing in it: what it is for and what to do next."""
    return rx.card(
        rx.vstack(
            icon_disc(icon),
            rx.heading(title, as_="h2", size="5", text_align="center"),
            rx.text(text, size="2", color=rx.color("gray", 11), text_align="center", max_width="32rem"),
            *([rx.flex(*actions, spacing="3", wrap="wrap", justify="center", padding_top="0.5rem")] if actions else []),
            align="center",
            spacing="3",
            padding_y=["2rem", "3rem"],
            padding_x="1rem",
        ),
        size="3",
        width="100%",
        **({"id": id} if id else {}),
    )


def loading_rows(rows: int = 4, height: str = "3.25rem") -> rx.Component:
    """Skeleton rows while a list loads (announced to screen readers as busy)."""
    return rx.vstack(
        *[rx.skeleton(rx.box(height=height, width="100%"), loading=True, width="100%") for _ in range(rows)],
        spacing="2",
        width="100%",
        aria_busy="true",
        aria_label="Loading",
        class_name="loading-state",
    )


def error_callout(message: rx.Var | str, on_retry: Any = None) -> rx.Component:
    """A failed load or action, with a retry button when there is something to retry."""
    return rx.callout.root(
        rx.callout.icon(rx.icon("triangle_alert", size=16)),
        rx.flex(
            rx.callout.text(message),
            *([rx.button("Try again", size="1", variant="soft", color_scheme="red", on_click=on_retry)]
              if on_retry is not None else []),
            justify="between",
            align="center",
            gap="3",
            wrap="wrap",
            width="100%",
        ),
        color_scheme="red",
        role="alert",
        width="100%",
    )


def form_error(message: rx.Var, id: str) -> rx.Component:
    """A form's error line (shown only when ``message`` is set), announced to screen readers."""
    return rx.cond(message != "", rx.callout(message, icon="triangle_alert", color_scheme="red", size="1",
                                             width="100%", role="alert", id=id))


def list_states(loading: rx.Var, error: rx.Var, empty: rx.Var, on_retry: Any, empty_view: rx.Component,
                content: rx.Component, skeleton_rows: int = 4) -> rx.Component:
    """Choose between the loading, error, empty and normal view of a list."""
    return rx.cond(
        error != "",
        error_callout(error, on_retry),
        rx.cond(loading, loading_rows(skeleton_rows), rx.cond(empty, empty_view, content)),
    )


def filter_select(label: str, value: rx.Var, on_change: Any, items: list[tuple[str, str]] | None = None,
                  dynamic: rx.Var | None = None, id: str = "") -> rx.Component:
    """A labelled select of a filter bar: fixed ``items`` (value, text) and/or ``dynamic`` rows (id, name)."""
    return rx.vstack(
        rx.text(label, size="1", weight="medium", color=rx.color("gray", 11), as_="label", html_for=id),
        rx.select.root(
            rx.select.trigger(width="100%", id=id, aria_label=label),
            rx.select.content(
                *[rx.select.item(text, value=val) for val, text in (items or [])],
                *([rx.foreach(dynamic, lambda w: rx.select.item(w["name"], value=w["id"]))] if dynamic is not None
                  else []),
            ),
            value=value,
            on_change=on_change,
        ),
        spacing="1",
        width=rx.breakpoints(initial="100%", sm="12rem"),
    )


def filter_bar(*fields: rx.Component) -> rx.Component:
    """The row of filters above a list (stacked on narrow screens)."""
    return rx.flex(
        *fields,
        spacing="3",
        wrap="wrap",
        direction=rx.breakpoints(initial="column", sm="row"),
        width="100%",
        margin_bottom="1rem",
    )


def confirm_dialog(title: str, *description: str | rx.Var, confirm_label: str, on_confirm: Any, open: rx.Var,
                   on_open_change: Any) -> rx.Component:
    """An alert dialog in front of a destructive action; Cancel has focus, Escape closes it.

    The state owns whether it is open (``open`` / ``on_open_change``), so a row's button can open
    it for that row; ``description`` is the text, in parts (strings and vars).
    """
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(rx.text(*description, size="2")),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(confirm_label, color_scheme="red", on_click=on_confirm, class_name="confirm-action"),
                ),
                spacing="3",
                justify="end",
                margin_top="1rem",
            ),
            max_width="28rem",
        ),
        open=open,
        on_open_change=on_open_change,
    )


def json_view(text: rx.Var | str, label: str | rx.Var = "JSON", open_: bool = False,
              max_height: str = "22rem") -> rx.Component:
    """Collapsible, scrollable, monospace JSON. The text is a text node: never parsed as HTML."""
    return rx.el.details(
        rx.el.summary(
            rx.text(label, as_="span", size="2", weight="medium"),
            cursor="pointer",
            padding_y="0.25rem",
            color=rx.color("gray", 11),
        ),
        rx.el.pre(
            text,
            font_family="var(--code-font-family)",
            font_size="12px",
            line_height="1.5",
            padding="0.75rem",
            margin_top="0.25rem",
            border_radius="var(--radius-2)",
            background=rx.color("gray", 2),
            border=f"1px solid {rx.color('gray', 4)}",
            max_height=max_height,
            overflow="auto",
            white_space="pre-wrap",
            word_break="break-word",
        ),
        open=open_,
        width="100%",
    )


def section_card(title: str | rx.Var, *children: rx.Component, action: rx.Component | None = None,
                 **props: Any) -> rx.Component:
    """A titled card used for dashboard panels and settings groups."""
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.heading(title, as_="h2", size="3", weight="medium"),
                *([action] if action is not None else []),
                justify="between",
                align="center",
                width="100%",
            ),
            *children,
            spacing="3",
            width="100%",
        ),
        size="2",
        width="100%",
        **props,
    )


def viewer_notice(can_edit: rx.Var, text: str = "You have view-only access to this workspace.") -> rx.Component:
    """A quiet banner telling viewers why controls are disabled."""
    return rx.cond(
        can_edit,
        rx.fragment(),
        rx.callout(text, icon="eye", color_scheme="gray", variant="surface", size="1", width="100%",
                   margin_bottom="1rem", id="viewer-notice"),
    )


def live_poll(handler: Any, interval_ms: int = 2500) -> rx.Component:
    """An invisible ticker: calls ``handler`` every ``interval_ms`` while the page is open.

    It is a mounted component, so polling stops when the person navigates away.
    """
    return rx.moment(interval=interval_ms, on_change=handler, display="none", aria_hidden="true")
