"""The app shell every page uses: sidebar navigation, header with colour-mode toggle, content.

Pages call ``layout(*children, title=..., active=...)``. The active route is passed in by the
page rather than read from router state, so the shell renders fully on the server and needs no
backend round trip to highlight the current item.
"""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from flowmate_app.components.user_menu import user_menu

SIDEBAR_WIDTH = "15rem"
# Radix breakpoints: initial, xs (30em), sm (48em), ... The sidebar shows from sm (768 px) up;
# below that a menu button in the header opens the same navigation in a drawer.
DESKTOP_ONLY = ["none", "none", "flex"]
MOBILE_ONLY = ["flex", "flex", "none"]


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    icon: str


NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("Dashboard", "/", "layout_dashboard"),
    NavItem("Workflows", "/workflows", "workflow"),
    NavItem("Runs", "/runs", "activity"),
    NavItem("Approvals", "/approvals", "user_check"),
    NavItem("Templates", "/templates", "layout_template"),
    NavItem("Connections", "/connections", "plug"),
    NavItem("Audit log", "/audit", "scroll_text"),
    NavItem("Contacts", "/contacts", "contact"),
    NavItem("Members", "/members", "users"),
    NavItem("Settings", "/settings", "settings"),
    NavItem("API tokens", "/tokens", "key_round"),
)


def brand() -> rx.Component:
    """Logo mark and product name."""
    return rx.link(
        rx.hstack(
            rx.center(
                rx.icon("zap", size=18, color="white"),
                width="2rem",
                height="2rem",
                border_radius="var(--radius-3)",
                background="linear-gradient(135deg, var(--violet-9), var(--iris-9))",
                box_shadow="0 2px 8px var(--violet-a5)",
            ),
            rx.text("FlowMate", size="4", weight="bold", color=rx.color("gray", 12)),
            align="center",
            spacing="2",
        ),
        href="/",
        underline="none",
        aria_label="FlowMate home",
    )


def nav_link(item: NavItem, active: bool) -> rx.Component:
    """One navigation entry; the active one is tinted with the accent colour."""
    return rx.link(
        rx.hstack(
            rx.icon(item.icon, size=18),
            rx.text(item.label, size="2", weight="medium"),
            *([_approvals_badge()] if item.href == "/approvals" else []),
            align="center",
            spacing="3",
            padding_x="0.75rem",
            padding_y="0.5rem",
            border_radius="var(--radius-2)",
            width="100%",
            color=rx.color("accent", 11) if active else rx.color("gray", 11),
            background=rx.color("accent", 3) if active else "transparent",
            _hover={
                "background": rx.color("accent", 4) if active else rx.color("gray", 3),
                "color": rx.color("accent", 11) if active else rx.color("gray", 12),
            },
        ),
        href=item.href,
        underline="none",
        width="100%",
        custom_attrs={"aria-current": "page"} if active else {},
    )


def _approvals_badge() -> rx.Component:
    # Function-local: the approvals feature's state imports the auth state, which pages load first.
    from flowmate_app.features.approvals.components import approvals_nav_badge

    return approvals_nav_badge()


def _bell() -> rx.Component:
    """The notification bell for signed-in members (function-local import, as for the badge)."""
    from flowmate_app.auth import AuthState
    from flowmate_app.features.notifications.components import notification_bell

    return rx.cond(AuthState.signed_in, notification_bell())


def nav_links(active: str) -> rx.Component:
    """The main navigation as a landmark, so tests and screen readers can find it by role."""
    return rx.el.nav(
        rx.vstack(
            *[nav_link(item, item.href == active) for item in NAV_ITEMS],
            spacing="1",
            width="100%",
        ),
        aria_label="Main navigation",
        width="100%",
    )


def sidebar(active: str) -> rx.Component:
    """Fixed left column on desktop and tablet.

    The outer box stretches to the page's full height (background and border all the way down);
    the inner column sticks to the viewport so the navigation stays in view while scrolling.
    """
    return rx.box(sidebar_column(active), display=DESKTOP_ONLY, border_right=f"1px solid {rx.color('gray', 5)}",
                  background=rx.color("gray", 2), id="sidebar")


def sidebar_column(active: str) -> rx.Component:
    return rx.vstack(
        rx.box(brand(), padding_x="0.75rem", padding_y="0.25rem"),
        nav_links(active),
        rx.spacer(),
        rx.text("FlowMate 0.1", size="1", color=rx.color("gray", 9), padding_x="0.75rem"),
        width=SIDEBAR_WIDTH,
        min_width=SIDEBAR_WIDTH,
        height="100vh",
        position="sticky",
        top="0",
        padding="1rem 0.75rem",
        spacing="5",
    )


def mobile_menu(active: str) -> rx.Component:
    """Menu button that opens the navigation in a drawer on narrow screens."""
    return rx.box(
        rx.drawer.root(
            rx.drawer.trigger(
                rx.icon_button(rx.icon("menu", size=20), variant="ghost", aria_label="Open menu"),
            ),
            rx.drawer.overlay(z_index="5"),
            rx.drawer.portal(
                rx.drawer.content(
                    rx.vstack(
                        rx.hstack(
                            brand(),
                            rx.spacer(),
                            rx.drawer.close(
                                rx.icon_button(rx.icon("x", size=18), variant="ghost", aria_label="Close menu")
                            ),
                            width="100%",
                            align="center",
                        ),
                        nav_links(active),
                        spacing="5",
                        width="100%",
                    ),
                    top="auto",
                    right="auto",
                    height="100%",
                    width="17rem",
                    padding="1rem",
                    background_color=rx.color("gray", 2),
                ),
            ),
            direction="left",
        ),
        display=MOBILE_ONLY,
    )


def header(title: str, active: str) -> rx.Component:
    """Top bar: menu (narrow screens), page title, notification bell, colour-mode toggle, account."""
    return rx.el.header(
        rx.hstack(
            mobile_menu(active),
            rx.text(title, size="3", weight="medium", color=rx.color("gray", 11)),
            rx.spacer(),
            _bell(),
            rx.color_mode.button(aria_label="Toggle dark mode", id="color-mode-toggle"),
            user_menu(),
            align="center",
            spacing="3",
            height="3.5rem",
            padding_x=["1rem", "1rem", "2rem"],
            width="100%",
        ),
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
        position="sticky",
        top="0",
        z_index="2",
    )


def layout(*children: rx.Component, title: str, active: str) -> rx.Component:
    """Wrap a page's content in the app shell."""
    return rx.flex(
        sidebar(active),
        rx.box(
            header(title, active),
            rx.el.main(
                rx.box(
                    *children,
                    max_width="72rem",
                    margin_x="auto",
                    padding=["1.25rem 1rem", "1.5rem", "2rem 2.5rem"],
                ),
            ),
            flex="1",
            min_width="0",
        ),
        min_height="100vh",
        background=rx.color("gray", 1),
    )


def page_heading(title: str, description: str, *actions: rx.Component) -> rx.Component:
    """The h1 of a page with a one-line description and optional actions on the right."""
    return rx.flex(
        rx.vstack(
            rx.heading(title, as_="h1", size="7", weight="bold"),
            rx.text(description, size="3", color=rx.color("gray", 11)),
            spacing="1",
        ),
        *([rx.hstack(*actions, spacing="2")] if actions else []),
        direction=rx.breakpoints(initial="column", sm="row"),
        align=rx.breakpoints(initial="start", sm="end"),
        justify="between",
        spacing="4",
        width="100%",
        margin_bottom="1.75rem",
    )
