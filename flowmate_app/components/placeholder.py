"""Stand-in pages for navigation entries whose feature has not landed yet.

Every sidebar link should lead somewhere that looks intentional rather than to a 404. A feature
replaces its stand-in by removing its route from PLACEHOLDER_ROUTES in flowmate_app.py and
registering its own page.
"""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from flowmate_app.components.layout import NavItem, layout, page_heading


def placeholder_page(item: NavItem, description: str) -> Callable[[], rx.Component]:
    """Build a page function for ``item`` that says the feature is on its way."""

    def page() -> rx.Component:
        return layout(
            page_heading(item.label, description),
            rx.card(
                rx.vstack(
                    rx.icon(item.icon, size=28, color=rx.color("gray", 9)),
                    rx.text("Coming soon", size="3", weight="medium"),
                    rx.text(
                        "This part of FlowMate is being built.",
                        size="2",
                        color=rx.color("gray", 11),
                    ),
                    align="center",
                    spacing="2",
                    padding_y="3rem",
                ),
                width="100%",
            ),
            title=item.label,
            active=item.href,
        )

    page.__name__ = f"{item.href.strip('/').replace('-', '_')}_placeholder_page"
    return page
