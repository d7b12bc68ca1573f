"""Plain HTML elements the browser handles itself, for routes served by the API, not by pages.

Reflex turns ``<a href="/...">`` into client-side router links and intercepts every form
submit; the sign-in routes (/auth/...) need a real page load or form post instead.
"""

from __future__ import annotations

import reflex as rx


class NativeForm(rx.el.Div):
    """``<form action method>`` that the browser submits itself."""

    tag = "form"
    action: rx.Var[str]
    method: rx.Var[str]


class NativeLink(rx.el.Div):
    """``<a href>`` that loads the target as a new page."""

    tag = "a"
    href: rx.Var[str]
