"""The builder's cross-border notice (Australian Privacy Principle 8), kept apart from the builder.

``CrossBorderState.load`` (on the builder's on_load) reads, for every connection of the
workspace, the notice its provider's data location calls for; ``cross_border_notice(step)``
shows it under a step whose connection field names such a connection, live as the field
changes. ClickSend (AU) in an AU workspace shows nothing; Twilio (US) shows the notice.
"""

from __future__ import annotations

import reflex as rx

from engine.db import session_scope
from engine.services.residency import connection_notices
from flowmate_app.auth import AuthState


class CrossBorderState(AuthState):
    notices: dict[str, str] = {}

    @rx.event
    def load(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        with session_scope() as session:
            self.notices = connection_notices(session, actor)


def cross_border_notice(step: rx.Var) -> rx.Component:
    """An amber callout under the step when its connection's provider is outside the region."""
    return rx.foreach(
        step.fields,
        lambda f: rx.cond(
            (f.kind == "connection") & CrossBorderState.notices.contains(f.value),
            rx.callout.root(
                rx.callout.icon(rx.icon("globe", size=16)),
                rx.callout.text(CrossBorderState.notices[f.value], " ",
                                rx.link("See every cross-border flow", href="/settings/data#cross-border")),
                color_scheme="amber",
                size="1",
                width="100%",
                class_name="cross-border-notice",
                role="note",
            ),
        ),
    )
