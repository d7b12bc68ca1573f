"""The builder's pure logic: schema → form fields, form text ↔ config values, draft edits,
definition round trips, error placement, the expression helper and the cron preview."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.catalog.service import get_template, render_template, validate_variables
from engine.catalog.templates import TEMPLATES
from engine.definition import validate_definition
from flowmate_app.features.builder import draft as d
from flowmate_app.features.builder import tree
from flowmate_app.features.builder.schema_form import (
    MISSING,
    FieldError,
    FieldSpec,
    fields_from_schema,
    from_raw,
    json_error,
    to_raw,
)
from flowmate_app.features.builder.views import run_step_views, split_step_errors, step_views, unplaced_errors


def _kinds(action: str) -> dict[str, str]:
    return {f.name: f.kind for f in d.action_catalogue()[action].fields}


# --------------------------------------------------------------------------- schema → fields


def test_every_registered_action_maps_to_known_kinds() -> None:
    from flowmate_app.features.builder.schema_form import KINDS

    for info in d.action_catalogue().values():
        assert info.fields, info.name
        assert {f.kind for f in info.fields} <= set(KINDS), info.name


def test_action_fields_get_the_right_controls() -> None:
    assert _kinds("core.log") == {"message": "textarea", "level": "enum", "data": "any"}
    http = _kinds("http.request")
    assert http["method"] == "enum"  # a $ref to an enum in $defs
    assert http["url"] == "text"
    assert http["headers"] == http["query"] == "json"
    assert http["follow_redirects"] == "bool"
    assert http["timeout_s"] == "number"
    assert http["connection"] == "connection"  # nullable string named "connection"
    assert http["sign"] == "json"  # an optional nested model
    assert _kinds("email.send")["to"] == "list"
    assert _kinds("data.transform") == {"mapping": "json"}


def test_required_enum_options_defaults_and_connection_types() -> None:
    log = {f.name: f for f in d.action_catalogue()["core.log"].fields}
    assert log["message"].required and not log["level"].required
    assert log["level"].options == ("debug", "info", "warning", "error")
    assert log["level"].default == "info"
    assert log["message"].placeholder.startswith("New lead:")
    sms = {f.name: f for f in d.action_catalogue()["sms.send"].fields}
    assert sms["connection"].connection_types == ("twilio", "clicksend")
    http = {f.name: f for f in d.action_catalogue()["http.request"].fields}
    assert http["method"].options[:2] == ("GET", "POST")


def test_secret_fields_become_password_inputs() -> None:
    from pydantic import BaseModel, SecretStr

    class Config(BaseModel):
        api_key: SecretStr
        note: str | None = None
        count: int = 3
        tags: list[str] = []

    fields = {f.name: f for f in fields_from_schema(Config.model_json_schema())}
    assert fields["api_key"].kind == "password" and fields["api_key"].required
    assert fields["note"].kind == "text" and not fields["note"].required
    assert fields["count"].kind == "number" and fields["count"].integer
    assert fields["tags"].kind == "list"


# --------------------------------------------------------------------------- text ↔ values


def spec(kind: str, **kw) -> FieldSpec:
    return FieldSpec(name="x", label="X", kind=kind, **kw)


@pytest.mark.parametrize(
    ("field", "raw", "value"),
    [
        (spec("number"), "30", 30),
        (spec("number"), "2.5", 2.5),
        (spec("number", integer=True), "7", 7),
        (spec("number"), "{{ trigger.body.n }}", "{{ trigger.body.n }}"),
        (spec("bool"), "true", True),
        (spec("bool"), "false", False),
        (spec("list"), "a@x.com\n\n b@x.com ", ["a@x.com", "b@x.com"]),
        (spec("json", json_type="object"), '{"a": "{{ trigger.body.a }}"}', {"a": "{{ trigger.body.a }}"}),
        (spec("any"), '{"k": 1}', {"k": 1}),
        (spec("any"), "{{ trigger.body.amount > 100 }}", "{{ trigger.body.amount > 100 }}"),
        (spec("any"), "plain words", "plain words"),
        (spec("textarea"), "Hi\nthere ", "Hi\nthere "),
    ],
)
def test_from_raw_converts_to_native_types(field: FieldSpec, raw: str, value) -> None:
    assert from_raw(field, raw) == value


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        (spec("number"), "abc", "must be a number"),
        (spec("number", integer=True), "1.5", "whole number"),
        (spec("json", json_type="object"), '{"a": ', "not valid JSON"),
        (spec("json", json_type="object"), "[1, 2]", "must be a JSON object"),
        (spec("json", json_type="array"), "{}", "must be a JSON list"),
        (spec("any"), '{"a" 1}', "not valid JSON"),
    ],
)
def test_from_raw_refuses_bad_text_with_a_field_message(field: FieldSpec, raw: str, message: str) -> None:
    with pytest.raises(FieldError, match=message):
        from_raw(field, raw)
    if field.kind in ("json", "any"):
        assert message in json_error(field, raw)


def test_empty_fields_are_left_out_so_defaults_apply() -> None:
    for kind in ("text", "number", "list", "json", "any", "enum"):
        assert from_raw(spec(kind), "") is MISSING
        assert from_raw(spec(kind), "   ") is MISSING


def test_to_raw_shows_values_as_editable_text() -> None:
    assert to_raw(spec("bool"), True) == "true"
    assert to_raw(spec("list"), ["a", "b"]) == "a\nb"
    assert to_raw(spec("json"), {"a": 1}) == '{\n  "a": 1\n}'
    assert to_raw(spec("number"), 30.0) == "30"
    assert to_raw(spec("text"), None) == ""


# --------------------------------------------------------------------------- draft edits


def three_step_draft() -> d.Draft:
    draft = d.Draft(name="Lead intake", trigger_type="webhook", timezone="Australia/Sydney")
    tree.add_step(draft, "core.log")
    tree.add_step(draft, "data.transform")
    tree.add_step(draft, "core.log")
    draft.steps[0].values["message"] = "New lead {{ trigger.body.email }}"
    draft.steps[1].values["mapping"] = '{"greeting": "Hi {{ trigger.body.name }}"}'
    draft.steps[2].values["message"] = "{{ steps.transform.output.greeting }}"
    return draft


def test_new_steps_get_unique_keys_and_defaults() -> None:
    draft = three_step_draft()
    assert [s.key for s in draft.steps] == ["log", "transform", "log_2"]
    assert draft.steps[0].values["level"] == "info"  # enum default shown
    assert draft.steps[0].values["data"] == ""  # optional text left empty
    assert d.suggest_key("crm.upsert_contact", set()) == "upsert_contact"


def test_reorder_and_remove_by_stable_id() -> None:
    draft = three_step_draft()
    last = draft.steps[2].uid
    assert tree.move_step(draft, last, -1)
    assert [s.key for s in draft.steps] == ["log", "log_2", "transform"]
    assert not tree.move_step(draft, draft.steps[0].uid, -1)  # already first
    assert not tree.move_step(draft, draft.steps[-1].uid, 1)  # already last
    assert tree.remove_step(draft, last)
    assert [s.key for s in draft.steps] == ["log", "transform"]
    assert not tree.remove_step(draft, "nope")


def test_draft_becomes_a_valid_definition() -> None:
    definition, errors = d.to_definition(three_step_draft())
    assert errors == {}
    validated = validate_definition(definition)
    assert [s.key for s in validated.steps] == ["log", "transform", "log_2"]
    assert definition["steps"][1]["config"] == {"mapping": {"greeting": "Hi {{ trigger.body.name }}"}}
    assert definition["trigger"] == {"type": "webhook", "config": {"methods": ["POST"]}}


def test_local_conversion_errors_use_service_paths() -> None:
    draft = three_step_draft()
    draft.steps[1].values["mapping"] = "{oops"
    draft.steps[0].retry["max_attempts"] = "lots"
    _definition, errors = d.to_definition(draft)
    assert set(errors) == {"steps.1.config.mapping", "steps.0.retry.max_attempts"}


@pytest.mark.parametrize("slug", [t.slug for t in TEMPLATES])
def test_every_template_round_trips_through_the_draft(slug: str) -> None:
    """Whatever the gallery creates, the builder can open and save without changing it."""
    template = get_template(slug)
    original = render_template(template, validate_variables(template, {}))
    draft = d.draft_from_definition(original)
    again, errors = d.to_definition(draft)
    assert errors == {}
    assert validate_definition(again).model_dump() == validate_definition(original).model_dump()


def test_webhook_secrets_are_write_only() -> None:
    draft = d.draft_from_definition({"name": "W", "trigger": {"type": "webhook", "config": {
        "methods": ["POST"], "auth": {"type": "header", "header_name": "X-Key"}}}, "steps": []})
    assert draft.auth_type == "header" and draft.auth_token == ""
    # Left empty: no token is sent, so the service keeps the stored one.
    assert d.trigger_to_definition(draft)["config"]["auth"] == {"type": "header", "header_name": "X-Key"}
    draft.auth_token = "s3cret"
    assert d.trigger_to_definition(draft)["config"]["auth"]["token"] == "s3cret"
    d.clear_secrets(draft)
    assert draft.auth_token == ""


def test_insert_reference() -> None:
    assert d.insert_reference("", "trigger.body.email") == "{{ trigger.body.email }}"
    assert d.insert_reference("Hi", "trigger.body.name") == "Hi {{ trigger.body.name }}"
    assert d.insert_reference("Hi ", "x") == "Hi {{ x }}"


def test_expression_helper_offers_trigger_samples_and_earlier_outputs_only() -> None:
    draft = three_step_draft()
    sample = {"email": "a@b.c", "name": "Ana", "address": {"suburb": "Glebe"}}
    views = step_views(draft, d.action_catalogue(), {}, [], sample)
    first, third = views[0].refs, views[2].refs
    assert "trigger.body.email" in first and "trigger.body.address.suburb" in first
    assert not any(r.startswith("steps.") for r in first)
    assert "steps.log.output" in third
    assert "steps.transform.output.greeting" in third  # from the transform's mapping keys
    assert "steps.log_2.output" not in third
    # Real outputs of the last test run spell out keys too.
    views = step_views(draft, d.action_catalogue(), {}, [], sample, {"log": {"logged": True}})
    assert "steps.log.output.logged" in views[1].refs
    manual = d.trigger_references("manual", {"order": 1})
    assert manual == ["trigger.payload", "trigger.payload.order"]
    assert d.trigger_references("cron", None) == ["trigger.scheduled_at"]


# --------------------------------------------------------------------------- errors next to fields


def test_service_errors_land_on_their_fields() -> None:
    errors = {
        "steps.1.config.mapping": "Field required",
        "steps.1.key": "String should match pattern '^[a-z][a-z0-9_]*$'",
        "steps.1.config.sign.secret_connection": "Field required",
        "steps.1.config": "json and body are mutually exclusive",
        "steps.0.when": "unexpected '}'",
        "steps.1.retry.factor": "Input should be greater than or equal to 1",
    }
    by_field, by_part = split_step_errors(errors, 1, {"mapping", "sign"})
    assert by_field == {"mapping": "Required", "sign": "secret_connection: Required"}
    assert by_part["key"].startswith("Use lowercase letters")
    assert by_part["general"] == "Json and body are mutually exclusive"
    assert by_part["retry"] == "factor: Input should be greater than or equal to 1"
    assert "when" not in by_part  # that one belongs to step 0
    assert unplaced_errors({"steps.0.key": "x", "name": "y", "enabled": "z"}) == ["enabled: Z"]


def run_step_views_carry_errors_and_split_optional_fields() -> None:
    draft = d.Draft(trigger_type="webhook")
    tree.add_step(draft, "http.request")
    errors = {"steps.0.config.url": "Field required", "steps.0.config.headers": "not valid JSON"}
    view = step_views(draft, d.action_catalogue(), errors, [{"name": "crm-api", "type": "http"},
                                                              {"name": "mail", "type": "smtp"}])[0]
    primary = {f.name: f for f in view.fields}
    assert set(primary) == {"method", "url", "body", "connection"}
    assert primary["url"].error == "Required"
    assert primary["connection"].options == ["crm-api"]  # filtered by the action's connection types
    assert view.optional_errors == 1 and view.error_count == 2
    assert view.is_first and view.is_last


def test_test_panel_rows_from_run_public() -> None:
    rows = run_step_views({"steps": [
        {"key": "log", "action": "core.log", "name": "", "status": "succeeded", "attempts": 1,
         "input": {"message": "hi"}, "output": {"logged": True}, "error": None, "duration_ms": 1200},
        {"key": "send", "action": "email.send", "name": "Welcome", "status": "pending", "attempts": 0,
         "input": None, "output": None, "error": None, "duration_ms": None},
    ]}, d.action_catalogue())
    assert rows[0].title == "Log" and rows[0].duration == "1.2 s" and '"logged": true' in rows[0].output_json
    assert rows[1].title == "Welcome" and rows[1].input_json == "" and rows[1].status == "pending"


# --------------------------------------------------------------------------- cron preview


def test_cron_preview_describes_and_lists_next_times_in_the_workflow_zone() -> None:
    now = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)  # Monday 11am in Sydney (AEDT)
    description, times, error = d.cron_preview("0 9 * * 1-5", "Australia/Sydney", now)
    assert error == ""
    assert "Monday through Friday" in description
    assert times == [
        "Tue 4 Mar 2025, 9:00 am AEDT", "Wed 5 Mar 2025, 9:00 am AEDT", "Thu 6 Mar 2025, 9:00 am AEDT",
        "Fri 7 Mar 2025, 9:00 am AEDT", "Mon 10 Mar 2025, 9:00 am AEDT",
    ]
    _desc, perth, _err = d.cron_preview("0 9 * * 1-5", "Australia/Perth", now)
    assert perth[0] == "Mon 3 Mar 2025, 9:00 am AWST"


@pytest.mark.parametrize(
    ("expression", "message"),
    [("", "Enter a cron expression"), ("* * *", "has 3"), ("61 * * * *", "not a valid cron expression")],
)
def test_cron_preview_errors(expression: str, message: str) -> None:
    description, times, error = d.cron_preview(expression, "UTC", datetime.now(UTC))
    assert message in error and times == [] and description == ""
    assert "Unknown time zone" in d.cron_preview("* * * * *", "Mars/Olympus", datetime.now(UTC))[2]


def test_the_trigger_picker_lists_the_registry_trigger_types() -> None:
    from engine.registry import all_triggers
    from flowmate_app.features.builder.draft import TRIGGER_CHOICES

    kinds = all_triggers()
    assert {name for name, *_ in TRIGGER_CHOICES} == set(kinds)
    assert [name for name, *_ in TRIGGER_CHOICES][:3] == ["webhook", "cron", "manual"]  # built-ins first
    assert all(title == kinds[name].title and icon == kinds[name].icon for name, title, icon, _ in TRIGGER_CHOICES)
