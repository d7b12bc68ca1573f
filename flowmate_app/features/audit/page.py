"""/audit: the workspace's audit trail with filters, its hash-chain status, export and streaming."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import (
    empty_state,
    filter_bar,
    filter_select,
    form_error,
    json_view,
    list_states,
    section_card,
)
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


def chain_banner() -> rx.Component:
    return rx.cond(
        S.chain_checked,
        rx.callout(
            S.chain_message,
            icon=rx.cond(S.chain_ok, "shield_check", "shield_alert"),
            color_scheme=rx.cond(S.chain_ok, "green", "red"),
            variant="surface", size="1", width="100%", margin_bottom="1rem",
            id=rx.cond(S.chain_ok, "chain-verified", "chain-broken"),
            role=rx.cond(S.chain_ok, "status", "alert"),
        ),
    )


def export_buttons() -> rx.Component:
    return rx.hstack(
        rx.text("Export", size="2", color=rx.color("gray", 11)),
        rx.button(rx.icon("download", size=14), "CSV", variant="soft", on_click=S.export("csv"),
                  id="export-csv"),
        rx.button(rx.icon("download", size=14), "JSON Lines", variant="soft", on_click=S.export("jsonl"),
                  id="export-jsonl"),
        spacing="2",
        align="center",
        flex_shrink="0",
    )


def stream_card() -> rx.Component:
    owner = AuthState.role == "owner"
    return rx.cond(
        AuthState.is_admin,
        section_card(
            "Stream to your SIEM or log server",
            rx.text("New rows are sent in order as they are written, retried until the receiver takes them, "
                    "and resume where they stopped after a restart. Webhooks are signed (Standard Webhooks: "
                    "webhook-id, webhook-timestamp, webhook-signature); syslog is RFC 5424.", size="2",
                    color=rx.color("gray", 11)),
            rx.text(S.stream_status, size="2", id="stream-status"),
            rx.cond(S.stream_secret != "", rx.callout(
                rx.text("Signing secret (shown once; give it to the receiver): ",
                        rx.code(S.stream_secret, id="stream-secret")),
                icon="key_round", color_scheme="amber", size="1", width="100%")),
            form_error(S.stream_error, "stream-error"),
            rx.form(
                rx.flex(
                    rx.vstack(
                        rx.text("Send to", size="1", weight="medium", as_="label", html_for="stream-kind"),
                        rx.select.root(rx.select.trigger(id="stream-kind", aria_label="Send to"),
                                       rx.select.content(rx.select.item("Webhook (HTTPS)", value="webhook"),
                                                         rx.select.item("Syslog (RFC 5424)", value="syslog")),
                                       value=S.stream_kind, on_change=S.set_stream_kind, disabled=~owner),
                        spacing="1",
                    ),
                    rx.cond(
                        S.stream_kind == "webhook",
                        rx.vstack(
                            rx.text("Webhook URL", size="1", weight="medium", as_="label", html_for="stream-url"),
                            rx.input(name="url", id="stream-url", default_value=S.stream_url, key=S.stream_url,
                                     placeholder="https://siem.example.com/flowmate", width="100%",
                                     disabled=~owner),
                            spacing="1", flex="1", min_width="16rem",
                        ),
                        rx.hstack(
                            rx.vstack(rx.text("Host", size="1", weight="medium", as_="label", html_for="stream-host"),
                                      rx.input(name="host", id="stream-host", default_value=S.stream_host,
                                               key=S.stream_host, placeholder="logs.example.com", disabled=~owner),
                                      spacing="1"),
                            rx.vstack(rx.text("Port", size="1", weight="medium", as_="label", html_for="stream-port"),
                                      rx.input(name="port", id="stream-port", default_value=S.stream_port,
                                               key=S.stream_port, placeholder="514", input_mode="numeric",
                                               width="6rem", disabled=~owner),
                                      spacing="1"),
                            rx.vstack(rx.text("Protocol", size="1", weight="medium"),
                                      rx.select.root(rx.select.trigger(aria_label="Protocol"),
                                                     rx.select.content(rx.select.item("TCP", value="tcp"),
                                                                       rx.select.item("UDP", value="udp")),
                                                     value=S.stream_protocol, on_change=S.set_stream_protocol,
                                                     disabled=~owner),
                                      spacing="1"),
                            spacing="3", wrap="wrap",
                        ),
                    ),
                    rx.cond(owner, rx.hstack(
                        rx.button("Save stream", type="submit", loading=S.stream_saving, id="stream-save"),
                        rx.cond(S.stream_exists, rx.button("Stop streaming", type="button", variant="soft",
                                                           color_scheme="red", on_click=S.stop_stream)),
                        spacing="2", align="end",
                    )),
                    spacing="3", align="end", wrap="wrap", width="100%",
                ),
                on_submit=S.save_stream,
                width="100%",
            ),
            rx.cond(~owner, rx.text("Only owners can change where the audit trail is streamed.", size="1",
                                    color=rx.color("gray", 10))),
            margin_top="1.5rem",
            id="stream-card",
        ),
    )


def entry(e: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.flex(
            rx.hstack(
                rx.text("#" + e["seq"], size="1", color=rx.color("gray", 9), font_family="var(--code-font-family)"),
                rx.cond(e["seq"] == S.chain_broken_seq, rx.badge("chain breaks here", color_scheme="red", size="1",
                                                                 class_name="chain-break")),
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
        page_heading("Audit log", "Who changed what, and when. Rows are hash-chained: edits show.", export_buttons()),
        chain_banner(),
        filters(),
        form_error(S.export_error, "export-error"),
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
        stream_card(),
        title="Audit log",
        active="/audit",
    )
