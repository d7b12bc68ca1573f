"""The gallery page's pure helpers: cards, step preview, and the typed variable form."""

from __future__ import annotations

from engine.catalog.service import get_template, list_templates, template_public
from flowmate_app.features.gallery.logic import (
    card_from_summary,
    general_errors,
    preview_steps,
    raw_default,
    variable_fields,
)


def test_cards_from_the_catalogue() -> None:
    cards = [card_from_summary(s) for s in list_templates()]
    assert len(cards) >= 12
    slack = next(c for c in cards if c.slug == "daily-slack-report")
    assert slack.trigger_label == "Schedule" and slack.step_count >= 1 and "slack" in slack.connection_types


def test_preview_lists_steps_with_action_titles_and_conditions() -> None:
    public = template_public(get_template("new-lead-welcome"))
    steps = preview_steps(public, {"sms.send": "Send SMS"})
    assert [s.number for s in steps] == list(range(1, len(steps) + 1))
    sms = next(s for s in steps if s.action == "sms.send")
    assert sms.action_title == "Send SMS" and sms.when


def test_variable_form_is_typed_with_defaults() -> None:
    public = template_public(get_template("new-lead-welcome"))
    fields = {f.name: f for f in variable_fields(public["variables"], {}, {}, [])}
    assert fields["business_name"].kind == "text" and fields["business_name"].value == "Harbour Plumbing"
    assert fields["send_sms"].kind == "bool" and fields["send_sms"].checked
    assert fields["lifecycle_stage"].kind == "enum" and "lead" in fields["lifecycle_stage"].options
    # No connections yet: a text input with a warning that the connection must be added.
    assert fields["smtp_connection"].kind == "text" and "Connections page" in fields["smtp_connection"].hint


def test_connection_picker_lists_matching_connections_and_errors_show_per_field() -> None:
    public = template_public(get_template("new-lead-welcome"))
    connections = [{"name": "Office mail", "type": "smtp"}, {"name": "Texts", "type": "clicksend"}]
    values = {"smtp_connection": "Office mail"}
    errors = {"variables.business_name": "required", "name": "name must not be blank"}
    fields = {f.name: f for f in variable_fields(public["variables"], values, errors, connections)}
    assert fields["smtp_connection"].kind == "connection" and fields["smtp_connection"].options == ["Office mail"]
    assert fields["sms_connection"].options == ["sms", "Texts"]  # the default name kept selectable
    assert fields["business_name"].error == "Required"
    assert general_errors(errors) == ["name: name must not be blank"]


def test_raw_defaults() -> None:
    assert raw_default({"default": True}) == "true"
    assert raw_default({"default": ["a@x.au", "b@x.au"]}) == "a@x.au, b@x.au"
    assert raw_default({"default": 17}) == "17"
    assert raw_default({"default": None}) == ""
