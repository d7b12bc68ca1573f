"""The template gallery: every template instantiates with its defaults and runs to success against the
local provider servers; bad variables are refused per field and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fake_providers import SIGNING_SECRET
from integ_helpers import connection_specs, create_connections, flowmate_cli, run_now, webhook_payload

from engine.catalog import get_template, instantiate, list_templates, missing_connections, template_public
from engine.catalog.flow_templates import FLOW_TEMPLATES
from engine.catalog.templates import TEMPLATES
from engine.errors import ValidationFailed


def _instantiate(workspace_id: str, slug: str, variables: dict[str, Any] | None = None) -> str:
    from engine.db import session_scope
    from engine.services.actor import Actor

    with session_scope() as session:
        return instantiate(session, Actor.system(workspace_id), slug, variables).id


def _counts() -> tuple[int, int]:
    from sqlalchemy import func, select

    from engine.db import session_scope
    from engine.models import AuditLog, Workflow

    with session_scope() as session:
        return (session.exec(select(func.count()).select_from(Workflow)).one()[0],
                session.exec(select(func.count()).select_from(AuditLog)).one()[0])


def _payload(template_slug: str) -> tuple[str, dict[str, Any]]:
    template = get_template(template_slug)
    trigger = template_public(template)["definition"]["trigger"]["type"]
    if trigger == "cron":
        return "cron", dict(template.sample_payload)
    return "webhook", webhook_payload(template.sample_payload)


def test_catalog_has_at_least_twelve_complete_templates() -> None:
    assert len(TEMPLATES) >= 12
    assert len({t.slug for t in TEMPLATES}) == len(TEMPLATES)
    for template in TEMPLATES:
        public = template_public(template)
        assert public["name"] and public["description"] and public["category"] and public["tags"]
        assert public["connection_types"], template.slug
        assert public["variables"] and all(v["description"] and "default" in v for v in public["variables"])
        assert public["steps"] and public["sample_payload"]
        json.dumps(public)  # the gallery page and the API serve this as JSON


def test_search_and_category_filter() -> None:
    assert {t["slug"] for t in list_templates(category="Billing")} == {"failed-payment-email",
                                                                        "overdue-invoice-reminder",
                                                                        "quote-accept-invoice"}
    assert [t["slug"] for t in list_templates(search="google review")] == ["review-request"]
    assert all("sms" in t["tags"] or "twilio" in t["connection_types"] for t in list_templates(search="sms"))
    assert list_templates(search="no-such-thing") == []


@pytest.mark.parametrize("slug", [t.slug for t in TEMPLATES])
def test_template_runs_to_success_with_defaults(connected: dict[str, Any], slug: str) -> None:
    ws = connected["workspace"]["id"]
    providers, smtp = connected["providers"], connected["smtp"]
    workflow_id = _instantiate(ws, slug)
    trigger_type, payload = _payload(slug)
    run = run_now(workflow_id, ws, trigger_type, payload)
    assert run["status"] == "succeeded", json.dumps(run, indent=1)
    statuses = {s["key"]: s["status"] for s in run["steps"]}
    assert set(statuses.values()) == {"succeeded"}, statuses

    # Each side effect really reached its provider, once per step.
    actions = [s["action"] for s in run["steps"]]
    assert len(smtp.messages) == actions.count("email.send")
    sent_sms = [r for r in providers.to("/2010-04-01/") if r.method == "POST"]
    assert len(sent_sms) == actions.count("sms.send")
    assert all(r.form["To"].startswith("+61") for r in sent_sms)
    assert len(providers.to("/services/")) == actions.count("slack.post_message")
    assert len(providers.contacts) == actions.count("crm.upsert_contact")
    api_calls = [r for r in providers.requests if r.path.startswith(("/reports/", "/leads"))]
    assert len(api_calls) == actions.count("http.request")
    for message in smtp.messages:
        assert message.message["Message-ID"].endswith("@flowmate>")


def test_new_lead_details(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    wf = _instantiate(ws, "new-lead-welcome", {"business_name": "Bondi Plumbing", "lifecycle_stage": "opportunity"})
    run = run_now(wf, ws, "webhook", webhook_payload({"first_name": "Mia", "last_name": "Nguyen", "phone": "",
                                                      "email": " MIA@Example.com "}))
    assert run["status"] == "succeeded"
    assert {s["key"]: s["status"] for s in run["steps"]}["sms"] == "skipped"  # no phone, no SMS
    (contact,) = connected["providers"].contacts.values()
    assert contact["properties"] == {"email": "mia@example.com", "firstname": "Mia", "lastname": "Nguyen",
                                     "lifecyclestage": "opportunity"}
    msg = connected["smtp"].messages[0].message
    assert msg["Subject"] == "Thanks for contacting Bondi Plumbing, Mia"
    assert msg["To"] == "mia@example.com" and msg["Reply-To"] == "hello@example.com.au"


def test_clicksend_works_for_sms_templates(sqlite_db: str, workspace: dict[str, str], providers: Any,
                                           smtp_server: Any) -> None:
    create_connections(workspace["id"], connection_specs(providers, smtp_server[1], sms="clicksend"))
    wf = _instantiate(workspace["id"], "appointment-reminder-sms", {"sender_id": "HarbourDent"})
    run = run_now(wf, workspace["id"], "webhook", webhook_payload(get_template("appointment-reminder-sms")
                                                                  .sample_payload))
    assert run["status"] == "succeeded", run
    (message,) = providers.to("/v3/sms/send")[0].json["messages"]
    assert message["to"] == "+61412345678" and message["from"] == "HarbourDent"
    assert "Harbour Dental" in message["body"] and "+61290000000" in message["body"]


def test_signed_lead_forwarding_is_verifiable(connected: dict[str, Any]) -> None:
    import hashlib
    import hmac

    ws = connected["workspace"]["id"]
    run = run_now(_instantiate(ws, "lead-forward-signed"), ws, "webhook",
                  webhook_payload(get_template("lead-forward-signed").sample_payload))
    assert run["status"] == "succeeded"
    (req,) = connected["providers"].to("/leads")
    expected = "sha256=" + hmac.new(SIGNING_SECRET.encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-flowmate-signature"] == expected
    assert json.loads(req.body)["email"] == "ethan.lee@example.com"
    assert json.loads(req.body)["name"] == "Ethan Lee"


def test_filters_stop_runs_that_do_not_apply(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    run = run_now(_instantiate(ws, "low-stock-alert", {"threshold": 2}), ws, "webhook",
                  webhook_payload({"sku": "X", "name": "Thing", "quantity": 3}))
    assert run["status"] == "succeeded" and run["result"] == "stock is above the threshold"
    assert connected["providers"].to("/services/") == [] and connected["smtp"].messages == []


def test_variable_values_are_never_evaluated_as_expressions(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    name = "{{ run.id }} & <Sons> {% if true %}"
    wf = _instantiate(ws, "contact-form-autoreply", {"business_name": name})
    run = run_now(wf, ws, "webhook", webhook_payload({"name": "Isla", "email": "isla@example.com", "message": "Hi"}))
    assert run["status"] == "succeeded", run
    autoreply = connected["smtp"].messages[0].message
    assert autoreply["Subject"] == f"We got your message – {name}"
    assert f"Someone from {name} will reply within 24 hours." in autoreply.get_body(("plain",)).get_content()


def test_bad_variables_are_refused_per_field_and_nothing_is_written(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    before = _counts()
    with pytest.raises(ValidationFailed) as err:
        _instantiate(ws, "daily-slack-report", {"report_hour": "25", "timezone": "Mars/Olympus",
                                                "weekdays_only": "maybe", "report_path": "reports", "colour": "red"})
    assert err.value.fields == {
        "variables.report_hour": "must be between 0 and 23",
        "variables.timezone": "must be an IANA time zone such as Australia/Sydney",
        "variables.weekdays_only": "must be true or false",
        "variables.report_path": "must be a path starting with /, e.g. /reports/daily",
        "variables.colour": "unknown variable for template 'daily-slack-report'",
    }
    with pytest.raises(ValidationFailed) as err:
        _instantiate(ws, "weekly-digest-email", {"schedule": "every monday", "recipients": "boss@, ok@example.com",
                                                 "business_name": ""})
    assert set(err.value.fields) == {"variables.schedule", "variables.recipients", "variables.business_name"}
    with pytest.raises(ValidationFailed) as err:
        _instantiate(ws, "appointment-reminder-sms", {"business_phone": "123", "sender_id": "Way too long id!"})
    assert set(err.value.fields) == {"variables.business_phone", "variables.sender_id"}
    with pytest.raises(ValidationFailed) as err:
        _instantiate(ws, "review-request", {"channel": "pigeon", "review_url": "ftp://x"})
    assert set(err.value.fields) == {"variables.channel", "variables.review_url"}
    with pytest.raises(ValidationFailed) as err:  # a connection of the wrong type
        _instantiate(ws, "new-signup-slack", {"slack_connection": "hubspot"})
    assert "hubspot connection" in err.value.fields["variables.slack_connection"]
    assert _counts() == before


def test_missing_connections_are_listed_not_refused(sqlite_db: str, workspace: dict[str, str]) -> None:
    from engine.db import session_scope
    from engine.services.actor import Actor

    wf = _instantiate(workspace["id"], "form-to-crm-notify-team")
    assert wf
    with session_scope() as session:
        assert missing_connections(session, Actor.system(workspace["id"]), "form-to-crm-notify-team") == [
            "hubspot", "slack", "smtp"]


def test_cli_templates_list_and_use(sqlite_db: str, workspace: dict[str, str]) -> None:
    done = flowmate_cli("templates", "list", "--category", "Reporting")
    assert done.returncode == 0, done.stderr
    assert {t["slug"] for t in json.loads(done.stdout)["items"]} == {"daily-slack-report", "weekly-digest-email"}

    done = flowmate_cli("templates", "use", "daily-slack-report", "--workspace", workspace["slug"],
                        "--var", "report_hour=8", "--var", "weekdays_only=no", "--name", "Morning numbers")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["name"] == "Morning numbers" and created["trigger"]["config"]["expression"] == "0 8 * * *"
    assert created["missing_connections"] == ["business-api", "slack"]

    done = flowmate_cli("templates", "use", "daily-slack-report", "--workspace", workspace["slug"],
                        "--var", "report_hour=99")
    assert done.returncode == 2
    assert json.loads(done.stderr.strip().splitlines()[-1])["error"]["fields"] == {
        "variables.report_hour": "must be between 0 and 23"}

    done = flowmate_cli("seed")
    gallery = len(TEMPLATES) + len(FLOW_TEMPLATES)  # flow-control templates are in the gallery too
    assert done.returncode == 0 and json.loads(done.stdout)["templates"]["count"] == gallery


def test_daily_report_message_lists_the_figures(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    run = run_now(_instantiate(ws, "daily-slack-report", {"report_title": "Bondi sales"}), ws, "cron",
                  {"scheduled_at": "2025-06-30T07:00:00+00:00"})
    assert run["status"] == "succeeded"
    text = connected["providers"].to("/services/")[0].json["text"]
    assert text.splitlines() == ["*Bondi sales* for 2025-06-30", "• Bookings: 12", "• New leads: 7",
                                 "• Sales total: 1,234.50"]
