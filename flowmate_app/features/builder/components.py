"""Pieces of the builder page: trigger card, step cards with generated forms, test-run panel.

Components are declarative: everything dynamic comes from BuilderState's view models. Every
control has a visible label (or an aria-label for icon buttons) so the page is usable with a
keyboard and a screen reader, and so tests find things the way people do.
"""

from __future__ import annotations

import reflex as rx

from engine.registry import all_triggers
from engine.triggers.polling_base import BASELINE_NOTE
from engine.triggers.webhook_providers import EVENT_HINTS
from flowmate_app.components.ui import status_badge
from flowmate_app.features.builder.draft import AUTH_LABELS, PROVIDER_AUTH, TRIGGER_CHOICES
from flowmate_app.features.builder.state import BuilderState as S
from flowmate_app.features.builder.structure_state import StructureState as T
from flowmate_app.features.builder.views import MAX_UI_DEPTH, FieldView, LaneView, RunStepView, StepView
from flowmate_app.features.data.cross_border import cross_border_notice

MONO = "var(--code-font-family)"

ACTION_ICONS = (
    ("core.log", rx.icon("scroll_text", size=16)),
    ("core.filter", rx.icon("filter", size=16)),
    ("core.delay", rx.icon("timer", size=16)),
    ("data.transform", rx.icon("shuffle", size=16)),
    ("http.request", rx.icon("globe", size=16)),
    ("email.send", rx.icon("mail", size=16)),
    ("sms.send", rx.icon("message_square", size=16)),
    ("crm.upsert_contact", rx.icon("contact", size=16)),
    ("slack.post_message", rx.icon("hash", size=16)),
    # Integrations (issue 15)
    ("xero.find_contact", rx.icon("receipt", size=16)),
    ("xero.upsert_contact", rx.icon("receipt", size=16)),
    ("xero.create_invoice", rx.icon("receipt", size=16)),
    ("xero.record_payment", rx.icon("receipt", size=16)),
    ("stripe.find_customer", rx.icon("credit_card", size=16)),
    ("stripe.create_customer", rx.icon("credit_card", size=16)),
    ("stripe.create_payment_link", rx.icon("credit_card", size=16)),
    ("shopify.add_order_note", rx.icon("shopping_bag", size=16)),
    ("shopify.tag_customer", rx.icon("shopping_bag", size=16)),
    ("mailchimp.upsert_member", rx.icon("mails", size=16)),
    ("sheets.append_row", rx.icon("sheet", size=16)),
    ("sheets.find_rows", rx.icon("sheet", size=16)),
    ("sheets.update_row", rx.icon("sheet", size=16)),
    # Flow control (issue 11)
    ("flow.branch", rx.icon("split", size=16)),
    ("flow.loop", rx.icon("repeat", size=16)),
    ("flow.approval", rx.icon("user_check", size=16)),
    ("flow.wait_for_event", rx.icon("hourglass", size=16)),
    ("flow.call_workflow", rx.icon("workflow", size=16)),
    ("flow.return", rx.icon("corner_down_left", size=16)),
)


def action_icon(action: rx.Var) -> rx.Component:
    return rx.match(action, *ACTION_ICONS, rx.icon("box", size=16))


def section_title(text: str, icon: str) -> rx.Component:
    return rx.hstack(
        rx.icon(icon, size=16, color=rx.color("accent", 11)),
        rx.heading(text, as_="h2", size="3", weight="bold"),
        align="center",
        spacing="2",
    )


def field_error(message: rx.Var, element_id: rx.Var | str = "") -> rx.Component:
    return rx.cond(
        message != "",
        rx.hstack(
            rx.icon("circle_alert", size=13, flex_shrink="0", margin_top="2px"),
            rx.text(message, size="1"),
            spacing="1",
            align="start",
            color=rx.color("red", 11),
            role="alert",
            id=element_id,
        ),
    )


def label(text: rx.Var | str, html_for: rx.Var | str, required: rx.Var | bool = False) -> rx.Component:
    return rx.hstack(
        rx.el.label(rx.text(text, size="2", weight="medium"), html_for=html_for),
        rx.cond(required, rx.text("*", size="2", color=rx.color("red", 10), aria_hidden="true",
                                  title="Required")),
        spacing="1",
        align="center",
    )


# --------------------------------------------------------------------------- expression helper


def reference_menu(refs: rx.Var, uid: rx.Var, name: rx.Var | str, what: rx.Var | str) -> rx.Component:
    """A menu of references (trigger fields, earlier steps' outputs) that inserts ``{{ ref }}``."""
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(
            rx.button(
                rx.icon("braces", size=13),
                "Insert",
                size="1",
                variant="ghost",
                type="button",
                aria_label="Insert a reference into " + what,
            ),
        ),
        rx.dropdown_menu.content(
            rx.text("Insert a reference", size="1", weight="medium", color=rx.color("gray", 10),
                    padding="0.25rem 0.5rem"),
            rx.dropdown_menu.separator(),
            rx.foreach(
                refs,
                lambda ref: rx.dropdown_menu.item(
                    rx.code(ref, variant="ghost", size="1"),
                    on_select=S.insert_reference(uid, name, ref),
                ),
            ),
            max_height="20rem",
            overflow_y="auto",
            size="1",
        ),
    )


# --------------------------------------------------------------------------- generated step form


def _text_input(f: FieldView, **props) -> rx.Component:
    return rx.input(
        id=f.input_id,
        value=f.value,
        placeholder=f.placeholder,
        on_change=lambda v: S.set_field(f.uid, f.name, v),
        disabled=S.read_only,
        width="100%",
        aria_invalid=rx.cond(f.error != "", "true", "false"),
        **props,
    )


def _text_area(f: FieldView) -> rx.Component:
    mono = (f.kind == "json") | (f.kind == "any")
    return rx.text_area(
        id=f.input_id,
        value=f.value,
        placeholder=f.placeholder,
        on_change=lambda v: S.set_field(f.uid, f.name, v),
        disabled=S.read_only,
        width="100%",
        rows=rx.cond(f.kind == "list", "2", rx.cond(f.kind == "json", "4", "3")),
        resize="vertical",
        font_family=rx.cond(mono, MONO, "inherit"),
        spell_check=False,
        aria_invalid=rx.cond(f.error != "", "true", "false"),
    )


def field_control(f: FieldView) -> rx.Component:
    select = rx.select(
        f.options,
        value=f.value,
        on_change=lambda v: S.set_field(f.uid, f.name, v),
        disabled=S.read_only,
        id=f.input_id,
        placeholder="Choose…",
        width="100%",
    )
    return rx.match(
        f.kind,
        ("bool", rx.switch(
            id=f.input_id,
            checked=f.checked,
            on_change=lambda v: S.set_field_bool(f.uid, f.name, v),
            disabled=S.read_only,
        )),
        ("enum", select),
        ("connection", rx.cond(f.options.length() > 0, select, _text_input(f))),
        ("password", _text_input(f, type="password", auto_complete="new-password")),
        ("number", _text_input(f, input_mode="decimal")),
        ("textarea", "json", "any", "list", _text_area(f)),
        _text_input(f),
    )


def step_field(f: FieldView, refs: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            label(f.label, f.input_id, f.required),
            rx.spacer(),
            rx.cond(f.expression & S.can_edit, reference_menu(refs, f.uid, f.name, f.label)),
            width="100%",
            align="center",
            min_height="1.5rem",
        ),
        field_control(f),
        field_error(f.error),
        rx.cond(
            f.hint != "",
            rx.text(f.hint, size="1", color=rx.color("gray", 10)),
        ),
        rx.cond(
            f.description != "",
            rx.text(f.description, size="1", color=rx.color("gray", 10)),
        ),
        spacing="1",
        width="100%",
        grid_column=rx.cond((f.kind == "textarea") | (f.kind == "json") | (f.kind == "any"), "1 / -1", "auto"),
    )


def _small_input(step: StepView, attr: str, label_text: str, value: rx.Var, placeholder: str = "",
                 **props) -> rx.Component:
    element_id = f"{attr.replace('.', '-')}-" + step.uid
    return rx.vstack(
        label(label_text, element_id),
        rx.input(
            id=element_id,
            value=value,
            placeholder=placeholder,
            on_change=lambda v: S.set_step_attr(step.uid, attr, v),
            disabled=S.read_only,
            width="100%",
            **props,
        ),
        spacing="1",
        width="100%",
    )


def _details_summary(text: rx.Var | str, *badges: rx.Component) -> rx.Component:
    return rx.el.summary(
        rx.text(text, size="2", weight="medium", as_="span"),
        *badges,
        cursor="pointer",
        padding_y="0.25rem",
        color=rx.color("gray", 11),
    )


def step_optional(step: StepView) -> rx.Component:
    """Optional fields of the action, folded so long forms (HTTP, email) stay scannable."""
    return rx.el.details(
        _details_summary(
            "More options (" + step.optional_fields.length().to_string() + ")",
            rx.cond(step.optional_set > 0, rx.badge(step.optional_set.to_string() + " set", size="1",
                                                    variant="soft", margin_left="0.5rem")),
            rx.cond(step.optional_errors > 0, rx.badge(step.optional_errors.to_string() + " to fix", size="1",
                                                       color_scheme="red", margin_left="0.5rem")),
        ),
        rx.grid(
            rx.foreach(step.optional_fields, lambda f: step_field(f, step.refs)),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="4",
            width="100%",
            padding_top="0.75rem",
        ),
        open=step.optional_errors > 0,
        width="100%",
        border_top=f"1px dashed {rx.color('gray', 6)}",
        padding_top="0.5rem",
    )


def on_error_select(step: StepView) -> rx.Component:
    element_id = "onerror-" + step.uid
    return rx.vstack(
        label("If this step fails", element_id),
        rx.select.root(
            rx.select.trigger(id=element_id, width="100%"),
            rx.select.content(
                rx.select.item("Fail the run", value="fail"),
                rx.select.item("Record the error and go on", value="continue"),
            ),
            value=step.on_error,
            on_change=lambda v: T.set_on_error(step.uid, v),
            disabled=S.read_only,
        ),
        field_error(step.on_error_error),
        rx.text("Going on: the step is recorded failed with output {\"error\": …}; inside a loop the next item "
                "runs.", size="1", color=rx.color("gray", 10)),
        spacing="1",
        width="100%",
    )


def step_advanced(step: StepView) -> rx.Component:
    """Run condition, error handling and retry policy, folded away until needed (native
    <details>: keyboard-friendly)."""
    return rx.el.details(
        _details_summary(
            "Condition, errors and retries",
            rx.cond(step.when != "", rx.badge("condition set", size="1", variant="soft", margin_left="0.5rem")),
            rx.cond(step.on_error == "continue", rx.badge("goes on after errors", size="1", variant="soft",
                                                          color_scheme="amber", margin_left="0.5rem")),
            rx.cond((step.when_error != "") | (step.retry_error != "") | (step.on_error_error != ""),
                    rx.badge("to fix", size="1", color_scheme="red", margin_left="0.5rem")),
        ),
        rx.vstack(
            rx.vstack(
                rx.hstack(
                    label("Run only when", "when-" + step.uid),
                    rx.spacer(),
                    rx.cond(S.can_edit, reference_menu(step.refs, step.uid, "__when__", "the condition")),
                    width="100%",
                    align="center",
                ),
                rx.input(
                    id="when-" + step.uid,
                    value=step.when,
                    placeholder="{{ trigger.body.amount > 100 }}",
                    on_change=lambda v: S.set_step_attr(step.uid, "when", v),
                    disabled=S.read_only,
                    width="100%",
                    font_family=MONO,
                ),
                field_error(step.when_error),
                rx.text("Leave empty to always run. When false, the step is skipped and the run goes on.",
                        size="1", color=rx.color("gray", 10)),
                spacing="1",
                width="100%",
            ),
            on_error_select(step),
            rx.grid(
                _small_input(step, "retry.max_attempts", "Max attempts", step.retry_max_attempts, "3",
                             input_mode="numeric"),
                _small_input(step, "retry.initial_delay_s", "First retry after (s)", step.retry_initial_delay_s, "1",
                             input_mode="decimal"),
                _small_input(step, "retry.factor", "Backoff factor", step.retry_factor, "2", input_mode="decimal"),
                _small_input(step, "retry.max_delay_s", "Longest delay (s)", step.retry_max_delay_s, "300",
                             input_mode="decimal"),
                _small_input(step, "timeout_s", "Step timeout (s)", step.timeout_s, "none", input_mode="decimal"),
                columns=rx.breakpoints(initial="2", sm="3"),
                spacing="3",
                width="100%",
            ),
            field_error(step.retry_error),
            spacing="3",
            padding_top="0.75rem",
            width="100%",
        ),
        open=(step.when_error != "") | (step.retry_error != "") | (step.on_error_error != ""),
        width="100%",
        border_top=f"1px dashed {rx.color('gray', 6)}",
        padding_top="0.5rem",
    )


def move_to_menu(step: StepView) -> rx.Component:
    """"Move to…": every list this step may go to (another branch, into or out of a loop)."""
    return rx.cond(
        step.targets.length() > 0,
        rx.dropdown_menu.root(
            rx.dropdown_menu.trigger(
                rx.icon_button(rx.icon("folder_input", size=15), size="1", variant="ghost", color_scheme="gray",
                               aria_label="Move step " + step.key + " to another list", type="button",
                               id="move-to-" + step.uid),
            ),
            rx.dropdown_menu.content(
                rx.text("Move to the end of…", size="1", weight="medium", color=rx.color("gray", 10),
                        padding="0.25rem 0.5rem"),
                rx.dropdown_menu.separator(),
                rx.foreach(step.targets, lambda t: rx.dropdown_menu.item(
                    t.label, on_select=T.move_to(step.uid, t.id), custom_attrs={"data-target": t.id})),
                max_height="20rem",
                overflow_y="auto",
                size="1",
            ),
        ),
    )


def step_controls(step: StepView) -> rx.Component:
    return rx.hstack(
        rx.tooltip(
            rx.icon_button(
                rx.icon("arrow_up", size=15),
                size="1",
                variant="ghost",
                color_scheme="gray",
                disabled=step.is_first,
                on_click=S.move_step(step.uid, -1),
                aria_label="Move step " + step.number.to_string() + " up",
                id="move-up-" + step.uid,
                type="button",
            ),
            content="Move up",
        ),
        rx.tooltip(
            rx.icon_button(
                rx.icon("arrow_down", size=15),
                size="1",
                variant="ghost",
                color_scheme="gray",
                disabled=step.is_last,
                on_click=S.move_step(step.uid, 1),
                aria_label="Move step " + step.number.to_string() + " down",
                id="move-down-" + step.uid,
                type="button",
            ),
            content="Move down",
        ),
        move_to_menu(step),
        rx.alert_dialog.root(
            rx.alert_dialog.trigger(
                rx.icon_button(
                    rx.icon("trash_2", size=15),
                    size="1",
                    variant="ghost",
                    color_scheme="red",
                    aria_label="Remove step " + step.number.to_string(),
                    type="button",
                ),
            ),
            rx.alert_dialog.content(
                rx.alert_dialog.title("Remove this step?"),
                rx.alert_dialog.description(
                    rx.text("“", step.title, "” (", rx.code(step.key), ") will be removed from the workflow when "
                            "you save", rx.cond(step.kind != "step", ", with every step inside it", ""),
                            ". Later steps that refer to its output will need changing."),
                ),
                rx.hstack(
                    rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                    rx.alert_dialog.action(
                        rx.button("Remove step", color_scheme="red", on_click=S.remove_step(step.uid)),
                    ),
                    spacing="3",
                    justify="end",
                    margin_top="1rem",
                ),
                max_width="28rem",
            ),
        ),
        spacing="1",
        align="center",
    )


def step_card(step: StepView, depth: int = 0) -> rx.Component:
    """One step's card; a branch or loop step holds its nested lists, drawn by the same card one
    level deeper (each level is a static copy: Reflex compiles components ahead of time)."""
    return rx.box(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.center(
                        rx.text(step.number, size="1", weight="bold"),
                        width="1.6rem",
                        height="1.6rem",
                        min_width="1.6rem",
                        border_radius="9999px",
                        background=rx.color("accent", 3),
                        color=rx.color("accent", 11),
                    ),
                    rx.center(action_icon(step.action), color=rx.color("gray", 11)),
                    rx.vstack(
                        rx.heading(step.title, as_="h3", size="3", weight="bold", trim="both"),
                        rx.text(step.action_title, " · ", rx.code(step.action, variant="ghost", size="1"),
                                size="1", color=rx.color("gray", 10)),
                        spacing="1",
                        min_width="0",
                    ),
                    rx.spacer(),
                    rx.cond(
                        step.error_count > 0,
                        rx.badge(rx.icon("circle_alert", size=12), step.error_count.to_string() + " to fix",
                                 color_scheme="red", variant="soft"),
                    ),
                    rx.cond(S.can_edit, step_controls(step)),
                    width="100%",
                    align="center",
                    spacing="2",
                    wrap="wrap",  # a nested card on a phone: the controls go under the title
                ),
                field_error(step.general_error),
                cross_border_notice(step),
                rx.grid(
                    rx.vstack(
                        label("Step key", "key-" + step.uid, True),
                        rx.input(
                            id="key-" + step.uid,
                            value=step.key,
                            on_change=lambda v: S.set_step_attr(step.uid, "key", v),
                            disabled=S.read_only,
                            font_family=MONO,
                            width="100%",
                        ),
                        field_error(step.key_error),
                        rx.text("Later steps use ", rx.code("steps." + step.key + ".output", size="1"),
                                size="1", color=rx.color("gray", 10)),
                        spacing="1",
                        width="100%",
                    ),
                    rx.vstack(
                        label("Step name", "name-" + step.uid),
                        rx.input(
                            id="name-" + step.uid,
                            value=step.name,
                            placeholder=step.action_title,
                            on_change=lambda v: S.set_step_attr(step.uid, "name", v),
                            disabled=S.read_only,
                            width="100%",
                        ),
                        field_error(step.name_error),
                        spacing="1",
                        width="100%",
                    ),
                    rx.foreach(step.fields, lambda f: step_field(f, step.refs)),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="4",
                    width="100%",
                ),
                rx.cond(step.optional_fields.length() > 0, step_optional(step)),
                step_advanced(step),
                nested_lists(step, depth),
                spacing="3",
                width="100%",
            ),
            width="100%",
            size="2",
            style={"border": rx.cond(step.error_count > 0, f"1px solid {rx.color('red', 7)}", "none")},
        ),
        id="step-" + step.uid,
        width="100%",
        custom_attrs={"data-step-key": step.key, "data-depth": str(depth)},
        role="group",
        aria_label="Step " + step.number.to_string() + ": " + step.title,
    )


def _branch_header(lane: LaneView) -> rx.Component:
    """A branch's name, key, condition and default switch, with its order and remove controls."""
    uid, buid = lane.owner_uid, lane.branch_uid
    return rx.vstack(
        rx.hstack(
            rx.icon("git_branch", size=14, color=rx.color("accent", 11)),
            rx.input(value=lane.name, placeholder="Branch name", aria_label="Branch name",
                     id="bname-" + buid, on_change=lambda v: T.set_branch(uid, buid, "name", v),
                     disabled=S.read_only, size="1", flex="1", min_width="0", font_weight="500"),
            rx.cond(S.can_edit, rx.hstack(
                rx.icon_button(rx.icon("chevron_left", size=14), size="1", variant="ghost", color_scheme="gray",
                               disabled=lane.is_first, on_click=T.move_branch(uid, buid, -1), type="button",
                               aria_label="Move branch " + lane.title + " earlier"),
                rx.icon_button(rx.icon("chevron_right", size=14), size="1", variant="ghost", color_scheme="gray",
                               disabled=lane.is_last, on_click=T.move_branch(uid, buid, 1), type="button",
                               aria_label="Move branch " + lane.title + " later"),
                rx.icon_button(rx.icon("x", size=14), size="1", variant="ghost", color_scheme="red",
                               disabled=~lane.can_remove, on_click=T.remove_branch(uid, buid), type="button",
                               aria_label="Remove branch " + lane.title),
                spacing="1",
            )),
            width="100%",
            align="center",
            spacing="2",
        ),
        field_error(lane.name_error),
        rx.hstack(
            rx.el.label(rx.text("Key", size="1", color=rx.color("gray", 10)), html_for="bkey-" + buid),
            rx.input(value=lane.key, id="bkey-" + buid, on_change=lambda v: T.set_branch(uid, buid, "key", v),
                     disabled=S.read_only, size="1", font_family=MONO, width="8rem"),
            rx.spacer(),
            rx.el.label(
                rx.hstack(
                    rx.switch(checked=lane.default, size="1", id="bdefault-" + buid,
                              on_change=lambda v: T.set_branch_default(uid, buid, v), disabled=S.read_only),
                    rx.text("Default", size="1"),
                    spacing="1",
                    align="center",
                ),
                title="Taken when no other branch matches (first match), and needs no condition",
            ),
            width="100%",
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        field_error(lane.key_error),
        rx.cond(
            lane.default,
            rx.text("Taken when no other branch's condition is true.", size="1", color=rx.color("gray", 10)),
            rx.vstack(
                rx.hstack(
                    rx.el.label(rx.text("Condition", size="1", weight="medium"), html_for="bwhen-" + buid),
                    rx.spacer(),
                    rx.cond(S.can_edit, _branch_reference_menu(lane)),
                    width="100%",
                    align="center",
                ),
                rx.input(value=lane.when, id="bwhen-" + buid, placeholder="{{ trigger.body.total > 1000 }}",
                         on_change=lambda v: T.set_branch(uid, buid, "when", v), disabled=S.read_only,
                         size="1", font_family=MONO, width="100%",
                         aria_invalid=rx.cond(lane.when_error != "", "true", "false")),
                spacing="1",
                width="100%",
            ),
        ),
        field_error(lane.when_error),
        field_error(lane.general_error),
        spacing="2",
        width="100%",
        padding_bottom="0.5rem",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
    )


def _branch_reference_menu(lane: LaneView) -> rx.Component:
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(
            rx.button(rx.icon("braces", size=12), "Insert", size="1", variant="ghost", type="button",
                      aria_label="Insert a reference into the condition of " + lane.title),
        ),
        rx.dropdown_menu.content(
            rx.foreach(lane.refs, lambda ref: rx.dropdown_menu.item(
                rx.code(ref, variant="ghost", size="1"),
                on_select=T.insert_branch_reference(lane.owner_uid, lane.branch_uid, ref))),
            max_height="20rem",
            overflow_y="auto",
            size="1",
        ),
    )


def lane_box(lane: LaneView, depth: int) -> rx.Component:
    """One nested list: a branch (header + steps) or a loop's inner steps, with its own Add step."""
    return rx.vstack(
        rx.cond(lane.kind == "branch", _branch_header(lane),
                rx.hstack(rx.icon("repeat", size=14, color=rx.color("accent", 11)),
                          rx.text(lane.title, size="1", weight="medium", color=rx.color("gray", 11)),
                          rx.code("loop.item", size="1", variant="soft"), spacing="2", align="center")),
        rx.cond(
            lane.steps.length() == 0,
            rx.text(rx.cond(lane.kind == "branch", "No steps: the run goes straight on after the branch step.",
                            "No steps yet: add what happens for each item."),
                    size="1", color=rx.color("gray", 10), padding_y="0.25rem"),
        ),
        rx.foreach(lane.steps, lambda s: step_card(s, depth + 1)),
        rx.cond(S.can_edit, add_step_menu(lane)),
        spacing="2",
        width="100%",
        min_width="0",
        padding=rx.breakpoints(initial="0.5rem", sm="0.75rem"),
        border_radius="var(--radius-3)",
        border=rx.cond(lane.default, f"1px dashed {rx.color('gray', 7)}", f"1px solid {rx.color('gray', 5)}"),
        background=rx.color("gray", 2),
        role="group",
        aria_label=rx.cond(lane.kind == "branch", "Branch " + lane.title, lane.title),
        custom_attrs={"data-lane": lane.id, "data-lane-kind": lane.kind, "data-branch-key": lane.key},
    )


def nested_lists(step: StepView, depth: int) -> rx.Component:
    """A branch step's branches side by side (stacked on a phone), or a loop's inner steps
    indented under it."""
    if depth >= MAX_UI_DEPTH:
        return rx.cond(step.too_deep, rx.callout(
            "Nested too deep to edit here: export the workflow, edit the JSON and import it.", icon="info",
            size="1", color_scheme="gray", width="100%"))
    return rx.cond(
        step.kind != "step",
        rx.vstack(
            rx.cond(step.kind == "branch", rx.hstack(
                rx.text("Branches", size="2", weight="medium"),
                rx.text("tried in order", size="1", color=rx.color("gray", 10), white_space="nowrap"),
                rx.spacer(),
                rx.cond(S.can_edit, rx.button(rx.icon("plus", size=14), "Add branch", size="1", variant="soft",
                                              type="button", on_click=T.add_branch(step.uid),
                                              id="add-branch-" + step.uid)),
                width="100%",
                align="center",
                wrap="wrap",
            )),
            rx.box(
                rx.foreach(step.lanes, lambda lane: lane_box(lane, depth)),
                display="grid",
                gap="0.75rem",
                width="100%",
                # Side by side while each branch gets 15rem, else stacked (a phone, deep nesting).
                grid_template_columns="repeat(auto-fit, minmax(min(100%, 15rem), 1fr))",
                padding_left=rx.cond(step.kind == "loop", "0.5rem", "0"),
                border_left=rx.cond(step.kind == "loop", f"3px solid {rx.color('accent', 6)}", "none"),
            ),
            spacing="2",
            width="100%",
            padding_top="0.5rem",
            border_top=f"1px dashed {rx.color('gray', 6)}",
        ),
    )


def connector() -> rx.Component:
    return rx.box(width="2px", height="1.25rem", background=rx.color("gray", 6), margin_left="1.55rem")


def add_step_menu(lane: LaneView | None = None) -> rx.Component:
    """The action picker; with ``lane`` it adds to that branch or loop, else to the top level."""
    trigger_props = {"aria_label": "Add step to " + lane.title, "id": "add-step-" + lane.id} if lane is not None \
        else {"id": "add-step-root"}
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(
            rx.button(rx.icon("plus", size=16), "Add step", variant="soft" if lane is None else "outline",
                      size="2" if lane is None else "1", type="button", **trigger_props),
        ),
        rx.dropdown_menu.content(
            rx.foreach(
                S.actions,
                lambda a: rx.dropdown_menu.item(
                    rx.hstack(
                        rx.center(action_icon(a.name), color=rx.color("accent", 11)),
                        rx.vstack(
                            rx.text(a.title, size="2", weight="medium"),
                            rx.text(a.description, size="1", color=rx.color("gray", 10), max_width="22rem",
                                    trim="both"),
                            spacing="0",
                        ),
                        spacing="3",
                        align="center",
                    ),
                    on_select=S.add_step(a.name) if lane is None else T.add_step_to(lane.id, a.name),
                    height="auto",
                    padding_y="0.4rem",
                ),
            ),
            max_height="26rem",
            overflow_y="auto",
        ),
    )


def steps_section() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            section_title("Steps", "list_ordered"),
            rx.badge(S.steps.length().to_string(), variant="soft", color_scheme="gray"),
            rx.spacer(),
            rx.cond(S.can_edit, add_step_menu()),
            width="100%",
            align="center",
        ),
        rx.cond(
            S.steps.length() == 0,
            rx.card(
                rx.vstack(
                    rx.icon("list_plus", size=26, color=rx.color("gray", 9)),
                    rx.text("No steps yet", weight="medium"),
                    rx.text("Add what should happen when the trigger fires: log, transform data, call an API, "
                            "send an email or SMS…", size="2", color=rx.color("gray", 11), text_align="center",
                            max_width="26rem"),
                    align="center",
                    spacing="2",
                    padding_y="1.5rem",
                ),
                width="100%",
            ),
            rx.vstack(
                rx.foreach(
                    S.steps,
                    lambda step: rx.fragment(rx.cond(step.is_first, rx.fragment(), connector()), step_card(step)),
                ),
                spacing="0",
                width="100%",
            ),
        ),
        spacing="3",
        width="100%",
    )


# --------------------------------------------------------------------------- trigger


def webhook_settings() -> rx.Component:
    secret_placeholder = rx.cond(S.secret_set, "•••••••• saved: leave empty to keep it", "")
    return rx.vstack(
        rx.vstack(
            rx.text("Webhook URL", size="2", weight="medium"),
            rx.cond(
                S.webhook_url != "",
                rx.hstack(
                    rx.code(S.webhook_url, id="webhook-url", size="2", variant="soft",
                            style={"word_break": "break-all", "padding": "0.4rem 0.6rem"}, flex="1"),
                    rx.tooltip(
                        rx.icon_button(rx.icon("copy", size=15), variant="soft", on_click=S.copy_webhook_url,
                                       aria_label="Copy webhook URL", type="button"),
                        content="Copy URL",
                    ),
                    width="100%",
                    align="center",
                ),
                rx.text("The private URL appears here once the workflow is saved.", size="2",
                        color=rx.color("gray", 10)),
            ),
            spacing="1",
            width="100%",
        ),
        rx.hstack(
            rx.text("Accepts", size="2", weight="medium"),
            *[
                rx.el.label(
                    rx.hstack(
                        rx.checkbox(
                            checked=S.webhook_methods.contains(m),
                            on_change=lambda c, m=m: S.toggle_method(m, c),
                            disabled=S.read_only,
                        ),
                        rx.text(m, size="2", font_family=MONO),
                        spacing="1",
                        align="center",
                    ),
                )
                for m in ("POST", "PUT", "GET")
            ],
            spacing="3",
            align="center",
            wrap="wrap",
        ),
        rx.vstack(
            label("Caller authentication", "auth-type"),
            rx.select.root(
                rx.select.trigger(id="auth-type", width="100%"),
                rx.select.content(*[rx.select.item(text, value=value) for value, text in AUTH_LABELS.items()]),
                value=S.auth_type,
                on_change=S.set_auth_type,
                disabled=S.read_only,
            ),
            spacing="1",
            width="100%",
        ),
        rx.match(
            S.auth_type,
            ("header", rx.grid(
                _auth_input("header_name", "Header name", S.auth_header_name, "X-FlowMate-Token"),
                _auth_input("token", "Token", S.auth_token, secret_placeholder, secret=True),
                columns=rx.breakpoints(initial="1", sm="2"), spacing="3", width="100%",
            )),
            ("basic", rx.grid(
                _auth_input("username", "Username", S.auth_username, ""),
                _auth_input("password", "Password", S.auth_password, secret_placeholder, secret=True),
                columns=rx.breakpoints(initial="1", sm="2"), spacing="3", width="100%",
            )),
            ("hmac", rx.vstack(
                _auth_input("secret", "Signing secret", S.auth_secret, secret_placeholder, secret=True),
                rx.text("Callers send hex(HMAC-SHA256(secret, body)) in the X-FlowMate-Signature header.",
                        size="1", color=rx.color("gray", 10)),
                spacing="1", width="100%",
            )),
            *[(provider, _provider_auth(provider, secret_placeholder)) for provider in PROVIDER_AUTH],
            rx.text("Anyone with the URL can start a run. Keep it private, or add authentication.", size="1",
                    color=rx.color("gray", 10)),
        ),
        field_error(S.trigger_error),
        spacing="4",
        width="100%",
    )


def _provider_auth(provider: str, secret_placeholder: rx.Var) -> rx.Component:
    """Signing secret and event filter of a provider-signed webhook (Stripe, Shopify, Xero, ...)."""
    secret_label = {"xero": "Webhook key", "shopify": "Client secret (signing secret)"}.get(provider, "Signing secret")
    return rx.vstack(
        _auth_input("secret", secret_label, S.auth_secret, secret_placeholder, secret=True),
        rx.text(PROVIDER_NOTES[provider], size="1", color=rx.color("gray", 10)),
        rx.cond(~S.secret_set & (S.auth_secret == ""),
                rx.callout("No signing secret saved yet: every delivery is refused (401) until you paste it here.",
                           icon="triangle_alert", color_scheme="amber", size="1", width="100%",
                           id="webhook-no-secret")),
        label("Only these events", "webhook-events"),
        rx.input(id="webhook-events", value=S.webhook_events, on_change=S.set_webhook_events,
                 placeholder=EVENT_HINTS[provider].split("e.g. ")[-1].split(" (")[0], disabled=S.read_only,
                 width="100%", font_family=MONO),
        rx.text("Comma separated ", EVENT_HINTS[provider], ". Empty: every event. Other events are answered "
                "200 and start no run; a redelivery of the same delivery id starts no second run.",
                size="1", color=rx.color("gray", 10)),
        spacing="1", width="100%",
    )


PROVIDER_NOTES = {
    "stripe": "The endpoint's signing secret (whsec_...) from Stripe's Webhooks page. Deliveries older than "
              "5 minutes or with a wrong Stripe-Signature are refused (401).",
    "shopify": "Shopify signs the raw body with your app's client secret (or the secret shown under Settings → "
               "Notifications → Webhooks). Unsigned or tampered deliveries are refused (401).",
    "xero": "The webhook key from your Xero app's Webhooks page. Xero's intent-to-receive check is answered "
            "automatically (200 for signed, 401 for unsigned, empty bodies).",
    "standard": "The sender's whsec_... secret. webhook-id, webhook-timestamp and webhook-signature are checked; "
                "deliveries more than 5 minutes old are refused.",
}


def _auth_input(name: str, text: str, value: rx.Var, placeholder: rx.Var | str, secret: bool = False) -> rx.Component:
    return rx.vstack(
        label(text, f"auth-{name}"),
        rx.input(
            id=f"auth-{name}",
            value=value,
            placeholder=placeholder,
            type="password" if secret else "text",
            auto_complete="new-password" if secret else "off",
            on_change=lambda v: S.set_auth_field(name, v),
            disabled=S.read_only,
            width="100%",
        ),
        *([rx.text("Write-only: never shown again after saving.", size="1", color=rx.color("gray", 10))]
          if secret else []),
        spacing="1",
        width="100%",
    )


#: Trigger types that poll a source (engine.triggers.polling_base): they share one explanation.
POLLING_TRIGGERS = tuple(name for name, kind in all_triggers().items() if kind.polling)


def polling_settings() -> rx.Component:
    """A polling trigger: what it promises about the first poll, and how its polls are going."""
    return rx.vstack(
        rx.callout(rx.cond(S.poll_note != "", S.poll_note, BASELINE_NOTE), icon="history", size="1",
                   width="100%", id="poll-note"),
        rx.cond(S.poll_status != "", rx.text(S.poll_status, size="1", color=rx.color("gray", 10), id="poll-status")),
        rx.cond(S.poll_error != "", rx.callout(S.poll_error, icon="triangle_alert", color_scheme="amber", size="1",
                                               width="100%", id="poll-error")),
        spacing="2", width="100%",
    )


def cron_settings() -> rx.Component:
    return rx.vstack(
        label("Cron expression", "cron-expression"),
        rx.input(
            id="cron-expression",
            value=S.cron_expression,
            on_change=S.set_cron_expression,
            placeholder="0 9 * * 1-5",
            font_family=MONO,
            disabled=S.read_only,
            width="100%",
            aria_invalid=rx.cond(S.expression_error != "", "true", "false"),
        ),
        rx.text("minute · hour · day of month · month · day of week", size="1", color=rx.color("gray", 10)),
        field_error(S.expression_error, "cron-error"),
        rx.cond(
            S.cron_error == "",
            rx.vstack(
                rx.cond(
                    S.cron_description != "",
                    rx.hstack(rx.icon("calendar_clock", size=15, color=rx.color("accent", 11)),
                              rx.text(S.cron_description, size="2", weight="medium", id="cron-description"),
                              spacing="2", align="center"),
                ),
                rx.text("Next 5 runs (", S.timezone, ")", size="1", color=rx.color("gray", 10)),
                rx.el.ol(
                    rx.foreach(S.cron_next, lambda t: rx.el.li(rx.text(t, size="2"))),
                    id="cron-next",
                    style={"padding_left": "1.25rem", "margin": 0},
                ),
                spacing="1",
                width="100%",
            ),
        ),
        spacing="1",
        width="100%",
    )


def trigger_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(section_title("Trigger", "zap"), width="100%"),
            rx.segmented_control.root(
                *[rx.segmented_control.item(rx.hstack(rx.icon(icon, size=14), title, align="center", spacing="1"),
                                            value=name) for name, title, icon, _ in TRIGGER_CHOICES],
                value=S.trigger_type,
                on_change=S.set_trigger_type,
                disabled=S.read_only,
                width="100%",
                aria_label="Trigger type",
            ),
            rx.match(
                S.trigger_type,
                ("webhook", webhook_settings()),
                ("cron", cron_settings()),
                *[(name, polling_settings()) for name in POLLING_TRIGGERS],
                *[(name, rx.text(description, size="2", color=rx.color("gray", 11)))
                  for name, _, _, description in TRIGGER_CHOICES
                  if name not in ("webhook", "cron", "manual", *POLLING_TRIGGERS)],
                rx.text("Runs start when someone clicks Run, or through the API or the CLI. The test-run payload "
                        "is available to steps as ", rx.code("trigger.payload"), ".", size="2",
                        color=rx.color("gray", 11)),
            ),
            spacing="4",
            width="100%",
        ),
        width="100%",
        size="2",
    )


# --------------------------------------------------------------------------- settings and test run


def settings_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            section_title("Settings", "sliders_horizontal"),
            rx.vstack(
                label("Description", "wf-description"),
                rx.text_area(id="wf-description", value=S.description, on_change=S.set_description,
                             placeholder="What this workflow does, for your team", rows="2",
                             disabled=S.read_only, width="100%"),
                spacing="1",
                width="100%",
            ),
            rx.vstack(
                label("Time zone", "wf-timezone"),
                rx.select(S.timezone_choices, value=S.timezone, on_change=S.set_timezone, id="wf-timezone",
                          disabled=S.read_only, width="100%"),
                field_error(S.timezone_error),
                rx.text("Schedules and dates in this workflow follow this zone.", size="1",
                        color=rx.color("gray", 10)),
                spacing="1",
                width="100%",
            ),
            rx.el.label(
                rx.hstack(
                    rx.switch(checked=S.enabled, on_change=S.set_enabled, disabled=S.read_only),
                    rx.text("Active: triggers start runs", size="2"),
                    spacing="2",
                    align="center",
                ),
            ),
            spacing="4",
            width="100%",
        ),
        width="100%",
        size="2",
    )


def run_step_row(step: RunStepView) -> rx.Component:
    def block(title: str, body: rx.Var) -> rx.Component:
        return rx.cond(
            body != "",
            rx.el.details(
                rx.el.summary(rx.text(title, size="1", weight="medium", as_="span"), cursor="pointer"),
                rx.code_block(body, language="json", wrap_long_lines=True, font_size="12px",
                              custom_style={"margin": "0.25rem 0 0", "maxHeight": "16rem"}),
            ),
        )

    return rx.box(
        rx.vstack(
            rx.hstack(
                rx.vstack(
                    rx.text(step.title, size="2", weight="medium"),
                    rx.hstack(
                        rx.code(step.key, size="1", variant="ghost"),
                        rx.cond(step.duration != "", rx.text("· " + step.duration, size="1",
                                                             color=rx.color("gray", 10))),
                        spacing="1",
                        align="center",
                    ),
                    spacing="0",
                    min_width="0",
                ),
                rx.spacer(),
                status_badge(step.status),
                width="100%",
                align="start",
                spacing="2",
            ),
            rx.cond(step.error != "", rx.callout(step.error, color_scheme="red", size="1", icon="circle_x",
                                                  width="100%")),
            block("Input", step.input_json),
            block("Output", step.output_json),
            spacing="1",
            width="100%",
        ),
        padding="0.6rem 0.75rem",
        border=f"1px solid {rx.color('gray', 5)}",
        border_radius="var(--radius-3)",
        width="100%",
        custom_attrs={"data-test-step": step.key, "data-status": step.status},
    )


def test_run_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                section_title("Test run", "flask_conical"),
                rx.spacer(),
                rx.cond(S.test_status != "", status_badge(S.test_status)),
                width="100%",
                align="center",
            ),
            rx.cond(
                S.trigger_type != "cron",
                rx.vstack(
                    label(rx.cond(S.trigger_type == "webhook", "Sample request body (JSON)", "Sample payload (JSON)"),
                          "sample-payload"),
                    rx.text_area(id="sample-payload", value=S.sample_payload, on_change=S.set_sample_payload,
                                 rows="6", font_family=MONO, spell_check=False, width="100%", resize="vertical",
                                 disabled=S.read_only),
                    field_error(S.sample_error),
                    spacing="1",
                    width="100%",
                ),
                rx.text("A test run of a schedule gets the current time as trigger.scheduled_at.", size="2",
                        color=rx.color("gray", 11)),
            ),
            rx.cond(
                S.can_edit,
                rx.button(
                    rx.cond(S.test_busy, rx.spinner(size="2"), rx.icon("play", size=16)),
                    rx.cond(S.dirty, "Save and run test", "Run test"),
                    on_click=S.start_test_run,
                    disabled=S.test_busy | S.saving,
                    width="100%",
                    color_scheme="green",
                    type="button",
                ),
                rx.text("Viewers cannot start runs.", size="2", color=rx.color("gray", 10)),
            ),
            rx.cond(S.test_error != "", rx.callout(S.test_error, color_scheme="red", icon="triangle_alert",
                                                   size="1", width="100%")),
            rx.cond(
                S.test_run_id != "",
                rx.vstack(
                    rx.foreach(S.test_steps, run_step_row),
                    rx.link(rx.hstack(rx.icon("external_link", size=14), rx.text("Open run details", size="2"),
                                      spacing="1", align="center"),
                            href="/runs/" + S.test_run_id, id="open-run-detail"),
                    spacing="2",
                    width="100%",
                    id="test-run-steps",
                    aria_live="polite",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        size="2",
    )


# --------------------------------------------------------------------------- header and banners


def builder_header() -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.link(rx.hstack(rx.icon("arrow_left", size=14), rx.text("Workflows", size="2"), spacing="1",
                              align="center"), href="/workflows", color=rx.color("gray", 11)),
            rx.debounce_input(rx.el.input(
                id="wf-name",
                value=S.name,
                on_change=S.set_name,
                disabled=S.read_only,
                placeholder="Name this workflow",
                aria_label="Workflow name",
                style={
                    "font_size": "var(--font-size-7)", "font_weight": "700", "background": "transparent",
                    "border": "1px solid transparent", "border_radius": "var(--radius-2)", "padding": "0 0.25rem",
                    "margin_left": "-0.25rem", "width": "100%", "color": "var(--gray-12)", "outline": "none",
                    "_hover": {"border_color": "var(--gray-6)"},
                    "_focus": {"border_color": "var(--accent-8)", "box_shadow": "0 0 0 1px var(--accent-8)"},
                },
            ), debounce_timeout=250),
            field_error(S.name_error),
            rx.hstack(
                rx.cond(S.is_new, rx.badge("New, not saved yet", color_scheme="amber"),
                        rx.badge("Version " + S.version.to_string(), variant="soft", color_scheme="gray",
                                 id="version-badge")),
                rx.cond(S.dirty & ~S.is_new, rx.badge(rx.icon("circle_dot", size=12), "Unsaved changes",
                                                     color_scheme="amber", id="unsaved-badge")),
                rx.cond(S.read_only, rx.badge(rx.icon("eye", size=12), "Read-only", color_scheme="gray",
                                              id="read-only-badge")),
                spacing="2",
                wrap="wrap",
            ),
            spacing="1",
            flex="1",
            min_width="0",
            width="100%",
        ),
        rx.cond(
            S.can_edit,
            rx.hstack(
                rx.button(
                    rx.cond(S.saving, rx.spinner(size="2"), rx.icon("save", size=16)),
                    "Save",
                    on_click=S.save,
                    disabled=(~S.dirty) | S.saving,
                    size="3",
                    type="button",
                ),
                spacing="2",
            ),
        ),
        direction=rx.breakpoints(initial="column", sm="row"),
        align=rx.breakpoints(initial="start", sm="end"),
        justify="between",
        spacing="4",
        width="100%",
        margin_bottom="1.25rem",
    )


def banners() -> rx.Component:
    return rx.vstack(
        rx.cond(
            S.read_only,
            rx.callout("You have view access to this workspace: you can look at this workflow but not change it.",
                       icon="eye", color_scheme="gray", width="100%"),
        ),
        rx.cond(
            S.banner_error != "",
            rx.callout.root(
                rx.callout.icon(rx.icon("triangle_alert")),
                rx.vstack(
                    rx.callout.text(S.banner_error, id="banner-error"),
                    rx.foreach(S.banner_details, lambda m: rx.text(m, size="1", font_family=MONO)),
                    rx.cond(S.conflict, rx.button("Reload latest version", size="1", variant="soft",
                                                  on_click=S.reload, color_scheme="red")),
                    spacing="1",
                ),
                color_scheme="red",
                width="100%",
                role="alert",
            ),
        ),
        spacing="3",
        width="100%",
        margin_bottom=rx.cond((S.banner_error != "") | S.read_only, "1rem", "0"),
    )


# Warn before leaving with unsaved changes: the browser's own prompt on reload/close, and a confirm
# for in-app links. Both look for the "Unsaved changes" badge, which exists only while dirty.
UNSAVED_GUARD_JS = """
(function () {
  if (window.__flowmateUnsavedGuard) return;
  window.__flowmateUnsavedGuard = true;
  const dirty = () => !!document.getElementById('unsaved-badge');
  window.addEventListener('beforeunload', function (e) {
    if (dirty()) { e.preventDefault(); e.returnValue = ''; }
  });
  document.addEventListener('click', function (e) {
    const a = e.target.closest && e.target.closest('a[href]');
    if (!a || !dirty() || a.target === '_blank') return;
    const url = new URL(a.href, window.location.href);
    if (url.pathname === window.location.pathname) return;
    if (!window.confirm('You have unsaved changes. Leave this page without saving?')) {
      e.preventDefault(); e.stopPropagation();
    }
  }, true);
})();
"""
