"""The bell button with its unseen-count badge, and the dropdown listing what is new."""

from __future__ import annotations

import reflex as rx

from flowmate_app.features.notifications.state import NotificationBellState as B


def _row(item: rx.Var) -> rx.Component:
    failed = item["kind"] == "run_failed"
    return rx.link(
        rx.hstack(
            rx.center(
                rx.cond(failed, rx.icon("circle_x", size=15), rx.icon("user_check", size=15)),
                width="1.75rem", height="1.75rem", min_width="1.75rem", border_radius="9999px",
                background=rx.cond(failed, rx.color("red", 3), rx.color("amber", 3)),
                color=rx.cond(failed, rx.color("red", 11), rx.color("amber", 11)),
            ),
            rx.vstack(
                rx.hstack(
                    rx.text(item["title"], size="2", weight="medium", color=rx.color("gray", 12),
                            overflow="hidden", text_overflow="ellipsis", white_space="nowrap", min_width="0"),
                    rx.spacer(),
                    rx.text(item["ago"], size="1", color=rx.color("gray", 10), white_space="nowrap",
                            flex_shrink="0", title=item["at"]),
                    width="100%", align="center", spacing="2",
                ),
                rx.text(rx.cond(failed, "Run failed: ", ""), item["detail"], size="1", color=rx.color("gray", 11),
                        word_break="break-word", class_name="bell-detail",
                        style={"display": "-webkit-box", "-webkit-line-clamp": "2",
                               "-webkit-box-orient": "vertical", "overflow": "hidden"}),
                spacing="1", min_width="0", flex="1",
            ),
            spacing="3", align="start", width="100%",
        ),
        href=item["href"],
        underline="none",
        on_click=B.set_bell_open(False),
        class_name="bell-item",
        custom_attrs={"data-kind": item["kind"]},
        display="block",
        padding="0.6rem 0.75rem",
        border_radius="var(--radius-2)",
        _hover={"background": rx.color("gray", 3)},
        _focus_visible={"outline": f"2px solid {rx.color('accent', 8)}", "outline_offset": "-2px"},
    )


def _empty() -> rx.Component:
    return rx.vstack(
        rx.icon("bell_off", size=22, color=rx.color("gray", 9)),
        rx.text("You're all caught up", size="2", weight="medium"),
        rx.text("Failed runs and approvals for you show up here.", size="1", color=rx.color("gray", 10),
                text_align="center"),
        align="center", spacing="1", padding="1.5rem 1rem", id="bell-empty",
    )


def notification_bell() -> rx.Component:
    """Bell icon button with the unseen count; opens the dropdown (Escape closes it)."""
    return rx.popover.root(
        rx.popover.trigger(
            rx.box(
                rx.icon_button(
                    rx.icon("bell", size=18),
                    variant="ghost", color_scheme="gray",
                    aria_label=rx.cond(B.unseen_count > 0, "Notifications, " + B.unseen_count.to_string() + " unseen",
                                       "Notifications"),
                    id="notification-bell",
                    custom_attrs={"data-count": B.unseen_count.to_string()},
                ),
                rx.cond(
                    B.unseen_count > 0,
                    rx.badge(rx.cond(B.unseen_count > 99, "99+", B.unseen_count.to_string()),
                             color_scheme="red", variant="solid", radius="full", size="1", id="notification-badge",
                             position="absolute", top="-0.35rem", right="-0.45rem", pointer_events="none",
                             min_width="1.1rem", justify_content="center", aria_hidden="true"),
                ),
                position="relative", display="inline-flex",
                on_mount=[B.refresh_bell, B.follow_bell],
            ),
        ),
        rx.popover.content(
            rx.vstack(
                rx.hstack(
                    rx.text("Notifications", size="2", weight="bold"),
                    rx.spacer(),
                    rx.button("Mark all as seen", size="1", variant="ghost", on_click=B.mark_all_seen,
                              disabled=B.unseen_count == 0, id="bell-mark-seen", type="button"),
                    width="100%", align="center", padding="0.5rem 0.75rem",
                    border_bottom=f"1px solid {rx.color('gray', 5)}",
                ),
                rx.cond(
                    B.bell_items.length() > 0,
                    rx.box(rx.foreach(B.bell_items, _row), width="100%", max_height="min(24rem, 60vh)",
                           overflow_y="auto", padding="0.25rem", id="bell-list", role="list"),
                    _empty(),
                ),
                rx.link("All approvals", href="/approvals", size="1", on_click=B.set_bell_open(False),
                        padding="0.5rem 0.75rem", width="100%", text_align="center",
                        border_top=f"1px solid {rx.color('gray', 5)}"),
                spacing="0", width="100%",
            ),
            align="end", side_offset=6, padding="0",
            width="min(22rem, calc(100vw - 1.5rem))",
            aria_label="Notifications",
            id="bell-panel",
        ),
        open=B.bell_open,
        on_open_change=B.set_bell_open,
    )
