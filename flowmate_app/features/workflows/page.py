"""/workflows: every automation in the workspace, with the everyday actions one click away."""

from __future__ import annotations

import reflex as rx

from flowmate_app.auth import AuthState
from flowmate_app.components.layout import layout, page_heading
from flowmate_app.components.ui import (
    confirm_dialog,
    empty_state,
    list_states,
    live_poll,
    status_badge,
    viewer_notice,
)
from flowmate_app.features.workflows.state import WorkflowsState as S

UPLOAD_ID = "workflow-import-file"


def row_menu(wf: rx.Var) -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.icon_button(rx.icon("ellipsis", size=16), variant="ghost", color_scheme="gray",
                           aria_label="More actions for " + wf["name"]),
        ),
        rx.menu.content(
            rx.menu.item(rx.icon("pencil", size=14), "Open in builder",
                         on_select=rx.redirect("/workflows/" + wf["id"])),
            rx.menu.item(rx.icon("activity", size=14), "View runs",
                         on_select=rx.redirect("/runs?workflow=" + wf["id"])),
            rx.menu.item(rx.icon("download", size=14), "Export JSON", on_select=S.export(wf["id"])),
            rx.cond(
                AuthState.can_edit,
                rx.fragment(
                    rx.menu.item(rx.icon("copy", size=14), "Duplicate", on_select=S.duplicate(wf["id"])),
                    rx.menu.separator(),
                    rx.menu.item(rx.icon("trash_2", size=14), "Delete…", color="red",
                                 on_select=S.ask_delete(wf["id"], wf["name"])),
                ),
            ),
            align="end",
        ),
    )


def last_run(wf: rx.Var) -> rx.Component:
    return rx.cond(
        wf["last_status"] != "",
        rx.link(
            rx.hstack(status_badge(wf["last_status"]), rx.text(wf["last_ago"], size="1", color=rx.color("gray", 10)),
                      spacing="2", align="center"),
            href="/runs/" + wf["last_run_id"],
            underline="none",
        ),
        rx.text("Never run", size="1", color=rx.color("gray", 10)),
    )


def workflow_row(wf: rx.Var) -> rx.Component:
    return rx.flex(
        rx.hstack(
            rx.center(
                rx.icon(wf["trigger_icon"], size=18),
                width="2.25rem",
                height="2.25rem",
                min_width="2.25rem",
                border_radius="var(--radius-3)",
                background=rx.cond(wf["enabled"] == "true", rx.color("accent", 3), rx.color("gray", 3)),
                color=rx.cond(wf["enabled"] == "true", rx.color("accent", 11), rx.color("gray", 10)),
            ),
            rx.vstack(
                rx.link(wf["name"], href="/workflows/" + wf["id"], size="3", weight="medium",
                        color=rx.color("gray", 12), class_name="workflow-name",
                        overflow="hidden", text_overflow="ellipsis", white_space="nowrap", max_width="100%"),
                rx.text(wf["trigger"] + " · " + wf["steps"] + " · " + wf["version"] + " · edited " + wf["updated"],
                        size="1", color=rx.color("gray", 10)),
                spacing="1",
                min_width="0",
            ),
            spacing="3",
            align="center",
            flex="1",
            min_width="0",
        ),
        rx.hstack(
            rx.box(last_run(wf), min_width=["0", "0", "10rem"]),
            rx.tooltip(
                rx.switch(
                    checked=wf["enabled"] == "true",
                    on_change=lambda value: S.toggle(wf["id"], value),
                    disabled=~AuthState.can_edit,
                    aria_label="Enabled: " + wf["name"],
                    class_name="enable-toggle",
                ),
                content=rx.cond(wf["enabled"] == "true", "On: triggers start runs", "Off: triggers are ignored"),
            ),
            row_menu(wf),
            spacing="4",
            align="center",
            justify=rx.breakpoints(initial="between", sm="end"),
            width=rx.breakpoints(initial="100%", sm="auto"),
        ),
        direction=rx.breakpoints(initial="column", sm="row"),
        align=rx.breakpoints(initial="stretch", sm="center"),
        gap="3",
        padding="0.875rem 1rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        _hover={"background": rx.color("gray", 2)},
        class_name="workflow-row",
    )


def import_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Import a workflow"),
            rx.dialog.description(
                "Paste a workflow definition (JSON exported from FlowMate or written by hand), or choose a file.",
                size="2", margin_bottom="1rem",
            ),
            rx.vstack(
                rx.upload.root(
                    rx.hstack(
                        rx.icon("file_up", size=18, color=rx.color("gray", 10)),
                        rx.text("Choose a .json file or drop it here", size="2", color=rx.color("gray", 11)),
                        spacing="2",
                        align="center",
                        justify="center",
                        padding="0.875rem",
                        border=f"1px dashed {rx.color('gray', 7)}",
                        border_radius="var(--radius-3)",
                        width="100%",
                        cursor="pointer",
                    ),
                    id=UPLOAD_ID,
                    accept={"application/json": [".json"]},
                    max_files=1,
                    multiple=False,
                    on_drop=S.handle_upload(rx.upload_files(upload_id=UPLOAD_ID)),
                    width="100%",
                ),
                rx.el.label(rx.text("Definition", size="2", weight="medium"), html_for="import-json"),
                rx.text_area(
                    id="import-json",
                    value=S.import_text,
                    on_change=S.set_import_text,
                    placeholder='{"name": "New lead follow-up", "trigger": {"type": "webhook"}, "steps": [...]}',
                    rows="10",
                    width="100%",
                    font_family="var(--code-font-family)",
                    font_size="12px",
                ),
                rx.cond(
                    S.import_error != "",
                    rx.callout.root(
                        rx.callout.icon(rx.icon("triangle_alert", size=16)),
                        rx.vstack(
                            rx.callout.text(S.import_error, weight="medium"),
                            rx.foreach(S.import_fields,
                                       lambda f: rx.text(f, size="1", font_family="var(--code-font-family)")),
                            spacing="1",
                        ),
                        color_scheme="red",
                        role="alert",
                        width="100%",
                        id="import-error",
                    ),
                ),
                rx.flex(
                    rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                    rx.button(rx.icon("upload", size=16), "Import", on_click=S.import_json, id="import-submit"),
                    spacing="3",
                    justify="end",
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
            max_width="40rem",
        ),
        open=S.import_open,
        on_open_change=S.set_import_open,
    )


def delete_dialog() -> rx.Component:
    return confirm_dialog(
        "Delete workflow?", "“", S.confirm_name, "” and its whole run history will be deleted. This cannot be undone.",
        confirm_label="Delete workflow", on_confirm=S.delete_confirmed,
        open=S.confirm_open, on_open_change=S.set_confirm_open,
    )


def toolbar() -> rx.Component:
    return rx.flex(
        rx.input(
            rx.input.slot(rx.icon("search", size=16)),
            placeholder="Search workflows",
            value=S.search,
            on_change=S.set_search.debounce(300),
            aria_label="Search workflows",
            type="search",
            width=rx.breakpoints(initial="100%", sm="20rem"),
            id="workflow-search",
        ),
        width="100%",
        margin_bottom="1rem",
    )


def the_list() -> rx.Component:
    return rx.card(
        rx.foreach(S.rows, workflow_row),
        rx.cond(
            S.next_cursor != "",
            rx.center(
                rx.button("Load more", variant="soft", on_click=S.load_more, loading=S.loading_more),
                padding="0.75rem",
            ),
        ),
        size="1",
        width="100%",
        padding="0",
        overflow="hidden",
        id="workflow-list",
    )


def empty_view() -> rx.Component:
    return rx.cond(
        S.search != "",
        empty_state("search_x", "No matching workflows", "Nothing matches your search. Try another word.",
                    id="workflows-empty"),
        empty_state(
            "workflow",
            "No workflows yet",
            "Workflows run steps — emails, SMS, CRM updates, API calls — when a webhook arrives, on a schedule "
            "or when you click Run. Create one, import a JSON definition, or start from a template.",
            rx.cond(AuthState.can_edit, rx.button(rx.icon("plus", size=16), "New workflow", size="3",
                                                  on_click=S.create_blank)),
            rx.link(rx.button(rx.icon("layout_template", size=16), "Browse templates", size="3", variant="soft"),
                    href="/templates"),
            id="workflows-empty",
        ),
    )


def workflows_page() -> rx.Component:
    return layout(
        live_poll(S.poll, 5000),
        page_heading(
            "Workflows",
            "Build and manage your automations.",
            rx.cond(
                AuthState.can_edit,
                rx.hstack(
                    rx.button(rx.icon("file_up", size=16), "Import", variant="soft",
                              on_click=S.set_import_open(True), id="import-open"),
                    rx.button(rx.icon("plus", size=16), "New workflow", on_click=S.create_blank, id="new-workflow"),
                    spacing="2",
                ),
            ),
        ),
        viewer_notice(AuthState.can_edit),
        toolbar(),
        list_states(S.loading, S.load_error, S.rows.length() == 0, S.load, empty_view(), the_list()),
        import_dialog(),
        delete_dialog(),
        title="Workflows",
        active="/workflows",
    )
