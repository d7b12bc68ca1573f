"""The approval card (message, where it comes from, comment, Approve / Reject), used by the
Approvals page and, in place, by the run page; and the sidebar's count badge."""

from __future__ import annotations

import reflex as rx

from flowmate_app.components.ui import live_poll
from flowmate_app.features.approvals.state import BADGE_POLL_MS, ApprovalBadgeState, ApprovalDecisionState
from flowmate_app.features.approvals.views import ApprovalView

A = ApprovalDecisionState


def approval_card(item: ApprovalView, where: str = "approvals", show_run: bool = True) -> rx.Component:
    busy = A.deciding == item.id
    comment_id = "approval-comment-" + item.id
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.hstack(
                    rx.center(rx.icon("user_check", size=16), width="2rem", height="2rem", min_width="2rem",
                              border_radius="9999px", background=rx.color("amber", 3), color=rx.color("amber", 11)),
                    rx.vstack(
                        rx.text(item.message, size="3", weight="medium", word_break="break-word",
                                class_name="approval-message"),
                        rx.text(
                            *([rx.link(item.workflow_name, href="/runs/" + item.run_id, size="1"),
                               " · run #" + item.run_short + " · "] if show_run else []),
                            rx.code(item.step_path, size="1", variant="ghost"),
                            size="1", color=rx.color("gray", 10),
                        ),
                        spacing="1",
                        min_width="0",
                    ),
                    spacing="3",
                    align="start",
                    min_width="0",
                ),
                rx.flex(
                    rx.badge("Needs " + item.approver_role, variant="soft", color_scheme="amber"),
                    rx.text(item.ago, size="1", color=rx.color("gray", 10), title=item.created),
                    direction=rx.breakpoints(initial="row", sm="column"),
                    align=rx.breakpoints(initial="center", sm="end"),
                    gap="2",
                    padding_left=rx.breakpoints(initial="2.75rem", sm="0"),  # under the message on a phone
                    flex_shrink="0",
                ),
                direction=rx.breakpoints(initial="column", sm="row"),
                justify="between",
                gap="2",
                width="100%",
            ),
            rx.cond(item.expires != "", rx.text("Times out " + item.expires, size="1", color=rx.color("gray", 10))),
            rx.cond(
                item.can_decide,
                rx.vstack(
                    rx.el.label(rx.text("Comment (optional)", size="1", weight="medium"), html_for=comment_id),
                    rx.text_area(id=comment_id, value=A.comments.get(item.id, ""), rows="2", width="100%",
                                 placeholder="Why, for the record", max_length=2000,
                                 on_change=lambda v: A.set_comment(item.id, v)),
                    rx.cond(A.decision_errors.contains(item.id),
                            rx.callout(A.decision_errors.get(item.id, ""), icon="triangle_alert", color_scheme="red",
                                       size="1", width="100%", role="alert")),
                    rx.hstack(
                        rx.button(rx.icon("check", size=15), "Approve", color_scheme="green",
                                  on_click=A.decide(item.id, True, where), loading=busy, disabled=A.deciding != "",
                                  type="button"),
                        rx.button(rx.icon("x", size=15), "Reject", color_scheme="red", variant="soft",
                                  on_click=A.decide(item.id, False, where), loading=busy, disabled=A.deciding != "",
                                  type="button"),
                        spacing="2",
                        justify="end",
                        width="100%",
                    ),
                    spacing="2",
                    width="100%",
                ),
                rx.hstack(
                    rx.button(rx.icon("check", size=15), "Approve", disabled=True, type="button",
                              aria_describedby="approval-reason-" + item.id),
                    rx.button(rx.icon("x", size=15), "Reject", disabled=True, variant="soft", type="button",
                              aria_describedby="approval-reason-" + item.id),
                    rx.text(item.reason, size="1", color=rx.color("gray", 11), id="approval-reason-" + item.id),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        size="2",
        class_name="approval-card",
        custom_attrs={"data-approval": item.id, "data-step-path": item.step_path},
    )


def approvals_nav_badge() -> rx.Component:
    """The pending count next to "Approvals" (kept fresh while any page is open)."""
    return rx.fragment(
        rx.cond(
            ApprovalBadgeState.pending_approvals > 0,
            rx.badge(ApprovalBadgeState.pending_approvals.to_string(), color_scheme="amber", variant="solid",
                     radius="full", size="1", margin_left="auto", class_name="approvals-badge",
                     aria_label=ApprovalBadgeState.pending_approvals.to_string() + " pending approvals"),
        ),
        rx.box(live_poll(ApprovalBadgeState.refresh_badge, BADGE_POLL_MS),
               on_mount=ApprovalBadgeState.refresh_badge, display="none"),
    )
