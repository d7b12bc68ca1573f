"""/settings/data: export, retention, cross-border flows, erasing a customer, deleting things."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import (
    confirm_dialog,
    error_callout,
    form_error,
    live_poll,
    loading_rows,
    section_card,
)
from flowmate_app.features.data.state import DataState as D

EXPORT_COLOURS = {"queued": "gray", "running": "blue", "succeeded": "green", "failed": "red", "expired": "gray"}


def hint(text: str | rx.Var) -> rx.Component:
    return rx.text(text, size="2", color=rx.color("gray", 11))


def export_row(e: rx.Var) -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.hstack(
                rx.text(e["scope"], size="2", weight="medium"),
                rx.match(e["status"], *[(k, rx.badge(e["status_text"], color_scheme=c, variant="soft",
                                                     radius="full"))
                                        for k, c in EXPORT_COLOURS.items()],
                         rx.badge(e["status_text"], variant="soft")),
                spacing="2",
                align="center",
            ),
            rx.text("Requested " + e["created"], size="1", color=rx.color("gray", 10)),
            rx.cond(e["status"] == "running",
                    rx.vstack(rx.progress(value=e["percent"].to(int), max=100, width="14rem"),
                              rx.text(e["progress"], size="1", color=rx.color("gray", 10)), spacing="1")),
            rx.cond(e["error"] != "", rx.text(e["error"], size="1", color=rx.color("red", 11))),
            spacing="1",
        ),
        rx.spacer(),
        rx.cond(
            e["url"] != "",
            rx.vstack(
                rx.button(rx.icon("download", size=14), "Download", size="2", variant="soft",
                          on_click=rx.download(url=e["url"]), class_name="export-download"),
                rx.text(e["size"] + " · link valid until " + e["expires"], size="1", color=rx.color("gray", 10)),
                align="end",
                spacing="1",
            ),
        ),
        gap="3",
        wrap="wrap",
        align="center",
        padding="0.75rem 0",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        class_name="export-row",
        width="100%",
    )


def exports_card() -> rx.Component:
    return section_card(
        "Export",
        hint("One ZIP with a manifest (SHA-256 of every file) and a JSON Lines file per kind of data. Secrets "
             "are never included. The download link works for 24 hours, for you only."),
        rx.flex(
            rx.cond(AuthState.is_admin,
                    rx.button(rx.icon("archive", size=14), "Export workspace", on_click=D.start_export("workspace"),
                              loading=D.exporting, id="export-workspace")),
            rx.button(rx.icon("user", size=14), "Export my data", variant="soft", on_click=D.start_export("user"),
                      loading=D.exporting, id="export-me"),
            gap="2",
            wrap="wrap",
        ),
        rx.cond(D.exports_list.length() > 0,
                rx.vstack(rx.foreach(D.exports_list, export_row), spacing="0", width="100%", id="export-list"),
                hint("No exports yet.")),
        rx.cond(D.has_active_export, live_poll(D.refresh_exports, 1500)),
        id="exports",
    )


def retention_card() -> rx.Component:
    r = D.retention_info
    return section_card(
        "Retention",
        rx.text("Runs that finished more than ", rx.text.strong(r["retention_days"]), " days ago are deleted "
                "with their step data (change it in ", rx.link("Settings", href="/settings"), ").", size="2"),
        rx.hstack(
            rx.box(rx.text("Next pass deletes", size="1", color=rx.color("gray", 10)),
                   rx.text(r["runs"], " runs", size="4", weight="bold", id="prune-runs"),
                   rx.text("finished before ", r["run_cutoff"], size="1", color=rx.color("gray", 10))),
            rx.box(rx.text("and", size="1", color=rx.color("gray", 10)),
                   rx.text(r["audit_rows"], " audit rows", size="4", weight="bold", id="prune-audit"),
                   rx.text("older than ", r["audit_cutoff"], size="1", color=rx.color("gray", 10))),
            spacing="6",
            wrap="wrap",
        ),
        rx.text(rx.cond(r["last_run"] != "", "Last ran " + r["last_run"] + " (deleted " + r["last_pruned"] + "); ",
                        "Has not run yet; "), "next pass ", r["next_run"], ".", size="1",
                color=rx.color("gray", 10), id="retention-last-run"),
        rx.form(
            rx.hstack(
                rx.el.label(rx.text("Keep audit rows for (days)", size="2", weight="medium"), html_for="audit-days"),
                rx.input(name="audit_days", id="audit-days", type="number", min=90, max=3650,
                         default_value=r["audit_days"], key=r["audit_days"], width="7rem",
                         disabled=~AuthState.is_admin),
                rx.cond(AuthState.is_admin, rx.button("Save", type="submit", size="2", variant="soft")),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            on_submit=D.save_audit_days,
            reset_on_submit=False,
        ),
        rx.cond(D.audit_days_error != "", rx.text(D.audit_days_error, size="1", color=rx.color("red", 11))),
        hint("At least 90 days, so a security review can always look back a quarter."),
        id="retention",
    )


def flow_row(f: rx.Var) -> rx.Component:
    return rx.flex(
        rx.icon("globe", size=16, color=rx.color("amber", 11)),
        rx.vstack(
            rx.hstack(rx.link(f["workflow_name"], href="/workflows/" + f["workflow_id"], weight="medium", size="2"),
                      rx.text("·", color=rx.color("gray", 9)), rx.code(f["step_key"], size="1"), spacing="2"),
            rx.text(f["connection"] + " (" + f["connection_type"] + ") processes data in " + f["location_name"],
                    size="1", color=rx.color("gray", 11)),
            spacing="0",
        ),
        gap="3",
        align="center",
        padding="0.5rem 0",
        class_name="cross-border-flow",
    )


def cross_border_card() -> rx.Component:
    return section_card(
        "Cross-border flows",
        hint(rx.text("This workspace keeps data in ", rx.text.strong(D.ws_region_name), " (this deployment: ",
                     rx.code(D.deployment_region), "). Steps below send it to a provider elsewhere or whose "
                     "location is unknown: a cross-border disclosure under Australian Privacy Principle 8 when "
                     "the workspace is in Australia.")),
        rx.cond(D.flows.length() > 0,
                rx.vstack(rx.foreach(D.flows, flow_row), spacing="0", width="100%", id="cross-border-list"),
                rx.callout("No flow sends data outside this workspace's region.", icon="circle_check",
                           color_scheme="green", size="1", id="no-cross-border")),
        id="cross-border",
    )


def erasure_card() -> rx.Component:
    c = D.subject_count
    return section_card(
        "Erase a customer's data",
        hint("A customer asked to be forgotten? Enter their email address or phone number (any format). "
             "FlowMate counts the runs that mention it first; erasing replaces each occurrence with [erased]."),
        rx.form(
            rx.flex(
                rx.input(name="subject", id="subject", placeholder="jo@example.com or 0412 345 678",
                         aria_label="Email address or phone number to erase", on_change=D.set_subject,
                         flex="1", min_width="14rem", required=True),
                rx.button(rx.icon("search", size=14), "Find", type="submit", variant="soft", id="subject-find"),
                gap="2",
                wrap="wrap",
                width="100%",
            ),
            on_submit=D.find_subject,
            reset_on_submit=False,
            width="100%",
        ),
        form_error(D.subject_error, "subject-error"),
        rx.cond(
            c.contains("runs"),
            rx.flex(
                rx.text("Found in ", rx.text.strong(c["runs"]), rx.cond(c["runs"] == "1", " run (", " runs ("),
                        c["values"], rx.cond(c["values"] == "1", " value).", " values)."), size="2",
                        id="subject-count"),
                rx.cond(c["runs"] != "0",
                        rx.button(rx.icon("eraser", size=14), "Erase", color_scheme="red",
                                  on_click=D.set_erase_confirm_open(True), loading=D.erasing, id="subject-erase")),
                gap="3",
                align="center",
            ),
        ),
        confirm_dialog("Erase this customer's data?", "Every occurrence in ", c["runs"],
                       " runs becomes [erased]. This cannot be undone; the audit log records the count only.",
                       confirm_label="Erase", on_confirm=D.erase_confirmed, open=D.erase_confirm_open,
                       on_open_change=D.set_erase_confirm_open),
        id="erasure",
    )


def delete_account_form() -> rx.Component:
    """Delete my account, confirmed with the password (accounts that have one)."""
    return rx.form(
        rx.vstack(
            hint("Your memberships and sessions are removed; in audit logs your name and email become "
                 "an anonymous deleted-user-… label. Re-enter your password to confirm."),
            rx.flex(
                rx.input(name="password", type="password", placeholder="Your password", required=True,
                         aria_label="Your password", id="delete-account-password", flex="1",
                         auto_complete="current-password", min_width="12rem"),
                rx.button("Delete my account", color_scheme="red", variant="soft", type="submit",
                          loading=D.deleting_account, id="delete-account"),
                gap="2",
                wrap="wrap",
                width="100%",
            ),
            form_error(D.account_error, "delete-account-error"),
            spacing="2",
            width="100%",
        ),
        on_submit=D.delete_account,
        reset_on_submit=True,
        width="100%",
    )


def danger_card() -> rx.Component:
    return section_card(
        "Delete",
        rx.cond(
            D.is_owner,
            rx.vstack(
                rx.text("Delete workspace", size="2", weight="medium"),
                hint("Cancels running work, revokes API tokens, turns off webhook URLs and removes every workflow, "
                     "run, connection and audit row of this workspace. Type its name to confirm."),
                rx.flex(
                    rx.input(placeholder=D.ws_name, value=D.delete_ws_name, on_change=D.set_delete_ws_name,
                             aria_label="Type the workspace name to confirm", id="delete-ws-name", flex="1",
                             min_width="12rem"),
                    rx.button("Delete workspace", color_scheme="red", disabled=~D.ws_name_matches,
                              loading=D.deleting_ws, on_click=D.set_delete_ws_open(True), id="delete-ws"),
                    gap="2",
                    wrap="wrap",
                    width="100%",
                ),
                form_error(D.delete_ws_error, "delete-ws-error"),
                spacing="2",
                width="100%",
            ),
            hint("Only an owner can delete this workspace."),
        ),
        rx.separator(size="4"),
        rx.text("Delete my account", size="2", weight="medium"),
        rx.cond(
            D.blockers.length() > 0,
            rx.vstack(
                rx.foreach(D.blockers, lambda b: rx.callout(b["message"], icon="lock", color_scheme="amber", size="1",
                                                            width="100%", class_name="account-blocker")),
                rx.hstack(rx.link("Members", href="/members", size="2"), spacing="3"),
                spacing="2",
                width="100%",
            ),
            rx.cond(
                D.account_has_password,
                delete_account_form(),
                rx.vstack(
                    hint("Your account signs in with single sign-on and has no password: we confirm a deletion by "
                         "email instead. Your memberships and sessions are removed; in audit logs your name and "
                         "email become an anonymous deleted-user-… label."),
                    rx.link("Delete my account from the Account page", href="/account", size="2",
                            id="delete-account-sso-link"),
                    spacing="2",
                    width="100%",
                ),
            ),
        ),
        confirm_dialog("Delete this workspace?", D.ws_name, " and everything in it are deleted for good.",
                       confirm_label="Delete workspace", on_confirm=D.delete_workspace_confirmed,
                       open=D.delete_ws_open, on_open_change=D.set_delete_ws_open),
        id="danger",
        border=f"1px solid {rx.color('red', 6)}",
    )


def data_page() -> rx.Component:
    return layout(
        page_heading("Data", "Export, retention, where your data goes, and deleting it.",
                     rx.link(rx.button(rx.icon("arrow_left", size=16), "Settings", variant="soft"), href="/settings")),
        rx.cond(
            D.data_error != "",
            error_callout(D.data_error, D.load),
            rx.cond(
                D.data_loading,
                loading_rows(4, "8rem"),
                rx.vstack(exports_card(), retention_card(), cross_border_card(),
                          rx.cond(AuthState.is_admin, erasure_card()), danger_card(),
                          spacing="4", width="100%", max_width="48rem"),
            ),
        ),
        title="Data",
        active="/settings",
    )
