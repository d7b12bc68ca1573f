"""The template gallery: ready-made workflows for Australian small businesses.

Each builder turns validated variables into a workflow definition (the format engine.definition validates). Rules
every template follows:

* user values enter step configs only through ``v.text(...)`` / ``v.fmt(...)`` (protected from
  expression evaluation) or as native values (ints, bools, lists) — never spliced into an
  expression;
* numbers a condition compares against are put in a ``data.transform`` "settings" step as
  native values, and the condition refers to ``steps.settings.output``;
* side-effecting steps get a retry policy suited to the provider (a few minutes of backoff);
* HTML bodies escape data from the trigger with ``| e``.
"""

from __future__ import annotations

from typing import Any

from engine.catalog.model import Template, Values, Variable

SEND_RETRY = {"max_attempts": 5, "initial_delay_s": 30, "factor": 2, "max_delay_s": 1800}
API_RETRY = {"max_attempts": 4, "initial_delay_s": 10, "factor": 3, "max_delay_s": 600}
WEBHOOK = {"type": "webhook", "config": {"methods": ["POST"]}}


# -- shared variables ------------------------------------------------------------------------

def _business(default: str = "Harbour Plumbing") -> Variable:
    return Variable("business_name", "Business name", "string", default,
                    "Your business name as customers know it; used in messages.", max_length=100)


def _conn(name: str, title: str, types: tuple[str, ...], default: str, description: str) -> Variable:
    return Variable(name, title, "connection", default, description, connection_types=types)


SMTP = _conn("smtp_connection", "Email (SMTP) connection", ("smtp",), "smtp",
             "The SMTP connection emails are sent from.")
SMS = _conn("sms_connection", "SMS connection", ("twilio", "clicksend"), "sms",
            "A Twilio or ClickSend connection texts are sent through.")
HUBSPOT = _conn("hubspot_connection", "HubSpot connection", ("hubspot",), "hubspot",
                "The HubSpot connection contacts are written to.")
SLACK = _conn("slack_connection", "Slack connection", ("slack",), "slack",
              "The Slack incoming webhook that receives the message.")
API = _conn("api_connection", "Your API connection", ("http",), "business-api",
            "An http connection with the base_url (and auth) of your own system.")
TIMEZONE = Variable("timezone", "Time zone", "timezone", "Australia/Sydney", "The schedule follows this time zone.")


def _definition(v: Values, template: str, description: str, trigger: dict[str, Any], steps: list[dict[str, Any]],
                timezone: str = "Australia/Sydney") -> dict[str, Any]:
    return {"name": template, "description": description, "timezone": timezone, "trigger": trigger, "steps": steps}


# -- 1. new lead -----------------------------------------------------------------------------

def _new_lead(v: Values) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"key": "lead", "action": "data.transform", "name": "Tidy up the lead", "config": {"mapping": {
            "name": "{{ (trigger.body.first_name or trigger.body.name or 'there') | trim }}",
            "email": "{{ trigger.body.email | trim | lower }}",
            "phone": "{{ trigger.body.phone | default('', true) | trim }}",
        }}},
        # Marketing consent is recorded only when the form says the person ticked the box (Spam Act):
        # later marketing steps (purpose: marketing) check it; this welcome email answers their enquiry.
        {"key": "consent", "action": "contacts.set_consent", "name": "Record marketing consent",
         "when": "{{ trigger.body.marketing_opt_in in [true, 'true', 'yes', 'on', '1', 1] }}", "config": {
             "email": "{{ steps.lead.output.email }}",
             "phone": "{{ steps.lead.output.phone }}",
             "name": "{{ steps.lead.output.name }}",
             "channels": ["email", "sms"] if v["send_sms"] else ["email"],
             "wording": v.fmt("[[consent_wording]]"),
             "source": "website form (new lead)",
         }},
        {"key": "crm", "action": "crm.upsert_contact", "name": "Add to HubSpot", "retry": API_RETRY, "config": {
            "connection": v.text("hubspot_connection"),
            "email": "{{ steps.lead.output.email }}",
            "first_name": "{{ trigger.body.first_name | default(trigger.body.name, true) }}",
            "last_name": "{{ trigger.body.last_name }}",
            "phone": "{{ steps.lead.output.phone }}",
            "properties": {"lifecyclestage": v.text("lifecycle_stage")},
        }},
        {"key": "welcome", "action": "email.send", "name": "Welcome email", "retry": SEND_RETRY, "config": {
            "connection": v.text("smtp_connection"),
            "to": ["{{ steps.lead.output.email }}"],
            "reply_to": v.text("reply_to_email"),
            "subject": v.fmt("Thanks for contacting [[business_name]], {{ steps.lead.output.name }}"),
            "text": v.fmt("Hi {{ steps.lead.output.name }},\n\nThanks for getting in touch with [[business_name]]. "
                          "We've got your details and will contact you within one business day.\n\n"
                          "Cheers,\nThe [[business_name]] team"),
            "html": v.fmt("<p>Hi {{ steps.lead.output.name | e }},</p><p>Thanks for getting in touch with "
                          "<strong>[[business_name]]</strong>. We've got your details and will contact you within "
                          "one business day.</p><p>Cheers,<br>The [[business_name]] team</p>", html_escape=True),
        }},
    ]
    if v["send_sms"]:
        steps.append({"key": "sms", "action": "sms.send", "name": "Welcome SMS", "retry": SEND_RETRY,
                      "when": "{{ steps.lead.output.phone != '' }}", "config": {
                          "connection": v.text("sms_connection"),
                          "to": "{{ steps.lead.output.phone }}",
                          "body": v.fmt("Hi {{ steps.lead.output.name }}, thanks for your enquiry with "
                                        "[[business_name]]. We'll be in touch shortly."),
                      }})
    return _definition(v, "New lead follow-up", "Welcome email, SMS and a HubSpot contact for every new lead.",
                       WEBHOOK, steps)


NEW_LEAD = Template(
    slug="new-lead-welcome",
    name="New lead → welcome email, SMS and CRM",
    description="When your website or ad form sends a lead, add it to HubSpot, send a friendly welcome email and "
                "(if they left a mobile number) a welcome SMS.",
    category="Sales",
    tags=("lead", "email", "sms", "crm", "hubspot", "webhook"),
    variables=(
        _business(),
        Variable("reply_to_email", "Reply-to address", "email", "hello@example.com.au",
                 "Replies to the welcome email go here."),
        Variable("lifecycle_stage", "HubSpot lifecycle stage", "enum", "lead", "Stage given to new contacts.",
                 choices=("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity")),
        Variable("send_sms", "Also send an SMS", "bool", True, "Text the lead when they gave a mobile number."),
        Variable("consent_wording", "Opt-in wording", "string",
                 "Yes, send me news and offers. I can unsubscribe at any time.",
                 "The words next to your form's marketing tick box (sent as marketing_opt_in); kept as evidence "
                 "of consent.", max_length=500),
        SMTP, SMS, HUBSPOT,
    ),
    build=_new_lead,
    sample_payload={"first_name": "Mia", "last_name": "Nguyen", "email": "mia.nguyen@example.com",
                    "phone": "0412 345 678", "source": "website", "marketing_opt_in": True},
)


# -- 2. daily report to Slack ----------------------------------------------------------------

_REPORT_LINES = (
    "{% set body = steps.fetch.output.body %}{% if body is mapping %}"
    "{% for key, value in body | dictsort %}• {{ key | replace('_', ' ') | capitalize }}: {{ value }}\n{% endfor %}"
    "{% else %}{{ body }}{% endif %}"
)


def _daily_report(v: Values) -> dict[str, Any]:
    days = "1-5" if v["weekdays_only"] else "*"
    steps = [
        {"key": "fetch", "action": "http.request", "name": "Fetch today's figures", "retry": API_RETRY, "config": {
            "method": "GET", "url": v.text("report_path"), "connection": v.text("api_connection"),
        }},
        {"key": "post", "action": "slack.post_message", "name": "Post to Slack", "retry": SEND_RETRY, "config": {
            "connection": v.text("slack_connection"),
            "text": v.fmt("*[[report_title]]* for {{ (trigger.scheduled_at or run.started_at)[:10] }}\n")
            + _REPORT_LINES,
        }},
    ]
    return _definition(v, "Daily summary to Slack", "Posts the day's figures from your system to Slack.",
                       {"type": "cron", "config": {"expression": f"0 {v['report_hour']} * * {days}"}}, steps,
                       timezone=v["timezone"])


DAILY_REPORT = Template(
    slug="daily-slack-report",
    name="Daily summary to Slack",
    description="Every afternoon, fetch today's figures (sales, bookings, leads...) from your system's API and "
                "post them to a Slack channel.",
    category="Reporting",
    tags=("cron", "schedule", "slack", "report", "api"),
    variables=(
        Variable("report_hour", "Hour of day", "int", 17, "Hour (0-23) the summary is posted.", min=0, max=23),
        Variable("weekdays_only", "Weekdays only", "bool", True, "Skip Saturdays and Sundays."),
        TIMEZONE,
        Variable("report_title", "Title", "string", "Daily summary", "Heading of the Slack message.", max_length=80),
        Variable("report_path", "Report path", "path", "/reports/daily",
                 "Path on your API connection that returns a JSON object of figures."),
        API, SLACK,
    ),
    build=_daily_report,
    sample_payload={"scheduled_at": "2025-06-30T07:00:00+00:00"},
)


# -- 3. failed payment -----------------------------------------------------------------------

def _failed_payment(v: Values) -> dict[str, Any]:
    email: dict[str, Any] = {
        "connection": v.text("smtp_connection"),
        "to": ["{{ steps.invoice.output.email }}"],
        "reply_to": v.text("accounts_email"),
        "subject": v.fmt("Your payment to [[business_name]] didn't go through"),
        "text": v.fmt(
            "Hi {{ steps.invoice.output.name }},\n\nWe tried to charge {{ steps.invoice.output.amount }} for your "
            "[[business_name]] account but the payment was declined.\n\nYou can pay or update your card here: "
            "{{ steps.invoice.output.pay_url or steps.invoice.output.fallback_url }}\n\n"
            "If you have any questions just reply to this email.\n\nThanks,\n[[business_name]]"),
        "html": v.fmt(
            "<p>Hi {{ steps.invoice.output.name | e }},</p><p>We tried to charge <strong>"
            "{{ steps.invoice.output.amount | e }}</strong> for your [[business_name]] account but the payment was "
            "declined.</p><p><a href=\"{{ (steps.invoice.output.pay_url or steps.invoice.output.fallback_url) | e }}"
            "\">Pay or update your card</a></p><p>Thanks,<br>[[business_name]]</p>", html_escape=True),
    }
    if v["copy_accounts"]:
        email["cc"] = [v.text("accounts_email")]
    steps = [
        {"key": "only_failures", "action": "core.filter", "name": "Only failed payments", "config": {
            "condition": "{{ trigger.body.type == 'invoice.payment_failed' }}",
            "reason": "not an invoice.payment_failed event",
        }},
        {"key": "invoice", "action": "data.transform", "name": "Read the invoice", "config": {"mapping": {
            "email": "{{ trigger.body.data.object.customer_email }}",
            "name": "{{ trigger.body.data.object.customer_name | default('there', true) }}",
            "amount": "${{ '%.2f' | format((trigger.body.data.object.amount_due | int) / 100) }} "
                      "{{ trigger.body.data.object.currency | default('aud') | upper }}",
            "pay_url": "{{ trigger.body.data.object.hosted_invoice_url | default('', true) }}",
            "fallback_url": v.text("billing_url"),
        }}},
        {"key": "email", "action": "email.send", "name": "Email the customer", "retry": SEND_RETRY, "config": email},
    ]
    return _definition(v, "Failed payment follow-up", "Emails the customer when a card payment fails.", WEBHOOK,
                       steps)


FAILED_PAYMENT = Template(
    slug="failed-payment-email",
    name="Failed payment → email the customer",
    description="Point your Stripe (or compatible) webhook here: when an invoice payment fails, the customer gets a "
                "polite email with a link to pay or update their card.",
    category="Billing",
    tags=("stripe", "payment", "invoice", "email", "webhook"),
    variables=(
        _business(),
        Variable("accounts_email", "Accounts email", "email", "accounts@example.com.au",
                 "Replies go here; optionally copied on every email."),
        Variable("copy_accounts", "Copy accounts", "bool", True, "Cc the accounts address."),
        Variable("billing_url", "Billing page", "url", "https://example.com.au/billing",
                 "Link used when the event has no hosted invoice URL."),
        SMTP,
    ),
    build=_failed_payment,
    sample_payload={"type": "invoice.payment_failed", "data": {"object": {
        "customer_email": "jack@example.com", "customer_name": "Jack Wilson", "amount_due": 4900,
        "currency": "aud", "hosted_invoice_url": "https://pay.example.com/i/in_123"}}},
)


# -- 4. form → CRM + team --------------------------------------------------------------------

def _form_to_crm(v: Values) -> dict[str, Any]:
    steps = [
        {"key": "crm", "action": "crm.upsert_contact", "name": "Save to HubSpot", "retry": API_RETRY, "config": {
            "connection": v.text("hubspot_connection"),
            "email": "{{ trigger.body.email }}",
            "first_name": "{{ trigger.body.first_name }}",
            "last_name": "{{ trigger.body.last_name }}",
            "phone": "{{ trigger.body.phone }}",
            "company": "{{ trigger.body.company }}",
            "properties": {"lifecyclestage": "lead"},
        }},
        {"key": "notify", "action": "slack.post_message", "name": "Tell the team on Slack", "retry": SEND_RETRY,
         "config": {
             "connection": v.text("slack_connection"),
             "text": v.fmt(":inbox_tray: New [[form_name]] from *{{ trigger.body.first_name }} "
                           "{{ trigger.body.last_name }}* ({{ trigger.body.email }})"
                           "{% if trigger.body.message %}\n> {{ trigger.body.message | truncate(500) }}{% endif %}"),
         }},
        {"key": "inbox", "action": "email.send", "name": "Email the team inbox", "retry": SEND_RETRY, "config": {
            "connection": v.text("smtp_connection"),
            "to": v.text("team_emails"),
            "reply_to": "{{ trigger.body.email }}",
            "subject": v.fmt("New [[form_name]]: {{ trigger.body.first_name }} {{ trigger.body.last_name }}"),
            "text": v.fmt("New [[form_name]] (HubSpot contact {{ steps.crm.output.id }}, "
                          "{{ steps.crm.output.action }})\n\n"
                          "Name: {{ trigger.body.first_name }} {{ trigger.body.last_name }}\n"
                          "Email: {{ trigger.body.email }}\nPhone: {{ trigger.body.phone }}\n"
                          "Company: {{ trigger.body.company }}\n\n{{ trigger.body.message }}"),
        }},
    ]
    return _definition(v, "Form submission to CRM", "Saves form submissions to HubSpot and tells the team.",
                       WEBHOOK, steps)


FORM_TO_CRM = Template(
    slug="form-to-crm-notify-team",
    name="Form submission → CRM + notify the team",
    description="Every website form submission becomes (or updates) a HubSpot contact, is posted to Slack and "
                "lands in the team inbox with Reply-To set to the sender.",
    category="Sales",
    tags=("form", "crm", "hubspot", "slack", "email", "webhook"),
    variables=(
        Variable("form_name", "Form name", "string", "website enquiry", "How the form is called in notifications.",
                 max_length=80),
        Variable("team_emails", "Team inbox", "emails", ["team@example.com.au"],
                 "One or more addresses (comma-separated) that get a copy."),
        HUBSPOT, SLACK, SMTP,
    ),
    build=_form_to_crm,
    sample_payload={"first_name": "Olivia", "last_name": "Smith", "email": "olivia@example.com",
                    "phone": "0423 456 789", "company": "Smith Cafe", "message": "Can you quote for a new hot water"
                    " system?"},
)


# -- 5. appointment reminder -----------------------------------------------------------------

def _appointment_reminder(v: Values) -> dict[str, Any]:
    config: dict[str, Any] = {
        "connection": v.text("sms_connection"),
        "to": "{{ trigger.body.phone }}",
        "body": v.fmt("Hi {{ trigger.body.name | default('there', true) }}, a reminder of your "
                      "{{ trigger.body.service | default('appointment', true) }} with [[business_name]] "
                      "{{ trigger.body.when | default(trigger.body.starts_at, true) }}. "
                      "To reschedule call [[business_phone]]."),
    }
    if v["sender_id"]:
        config["from"] = v.text("sender_id")
    steps = [{"key": "reminder", "action": "sms.send", "name": "Reminder SMS", "retry": SEND_RETRY, "config": config}]
    return _definition(v, "Appointment reminder SMS", "Texts the customer when the booking system asks for a "
                       "reminder.", WEBHOOK, steps)


APPOINTMENT_REMINDER = Template(
    slug="appointment-reminder-sms",
    name="Appointment reminder SMS",
    description="Your booking system calls this webhook when a reminder is due (e.g. 24 hours before); the customer "
                "gets an SMS with the time and your number to reschedule. Cuts no-shows.",
    category="Bookings",
    tags=("appointment", "booking", "reminder", "sms", "webhook"),
    variables=(
        _business("Harbour Dental"),
        Variable("business_phone", "Business phone", "phone", "02 9000 0000",
                 "Number customers call to reschedule (Australian local numbers are fine)."),
        Variable("sender_id", "Sender ID", "sender", "", "Optional: show texts as from this name (up to 11 letters "
                 "or digits) or number; empty uses the connection's number.", required=False),
        SMS,
    ),
    build=_appointment_reminder,
    sample_payload={"name": "Sam", "phone": "0412 345 678", "service": "check-up", "when": "tomorrow at 10:30am",
                    "starts_at": "2025-07-01T10:30:00+10:00"},
)


# -- 6. order confirmation -------------------------------------------------------------------

_ORDER_LINES = ("{% for line in trigger.body.line_items %}{{ line.quantity }} × {{ line.title }} — "
                "${{ line.price }}\n{% endfor %}")


def _order_confirmation(v: Values) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"key": "confirm", "action": "email.send", "name": "Confirmation email", "retry": SEND_RETRY, "config": {
            "connection": v.text("smtp_connection"),
            "to": ["{{ trigger.body.email or trigger.body.customer.email }}"],
            "reply_to": v.text("support_email"),
            "subject": v.fmt("[[shop_name]] order #{{ trigger.body.order_number }} confirmed"),
            "text": v.fmt("Hi {{ trigger.body.customer.first_name | default('there', true) }},\n\nThanks for your "
                          "order #{{ trigger.body.order_number }}!\n\n" + _ORDER_LINES
                          + "\nTotal: ${{ trigger.body.total_price }} {{ trigger.body.currency | default('AUD') }}\n\n"
                          "We'll let you know when it ships.\n[[shop_name]]"),
            "html": v.fmt("<p>Hi {{ trigger.body.customer.first_name | default('there', true) | e }},</p>"
                          "<p>Thanks for your order <strong>#{{ trigger.body.order_number | e }}</strong>!</p><ul>"
                          "{% for line in trigger.body.line_items %}<li>{{ line.quantity | e }} × {{ line.title | e }}"
                          " — ${{ line.price | e }}</li>{% endfor %}</ul><p>Total: <strong>$"
                          "{{ trigger.body.total_price | e }} {{ trigger.body.currency | default('AUD') | e }}"
                          "</strong></p><p>[[shop_name]]</p>", html_escape=True),
        }},
    ]
    if v["send_sms"]:
        steps.append({"key": "sms", "action": "sms.send", "name": "Confirmation SMS", "retry": SEND_RETRY,
                      "when": "{{ (trigger.body.customer.phone or '') != '' }}", "config": {
                          "connection": v.text("sms_connection"),
                          "to": "{{ trigger.body.customer.phone }}",
                          "body": v.fmt("[[shop_name]]: thanks for order #{{ trigger.body.order_number }} "
                                        "(${{ trigger.body.total_price }}). We'll text you when it ships."),
                      }})
    return _definition(v, "Order confirmation", "Confirms new orders by email and SMS.", WEBHOOK, steps)


ORDER_CONFIRMATION = Template(
    slug="order-confirmation",
    name="New order → confirmation email + SMS",
    description="For Shopify/WooCommerce-style order webhooks: email a tidy order summary and text a short "
                "confirmation when the customer gave a mobile number.",
    category="E-commerce",
    tags=("order", "shop", "shopify", "email", "sms", "webhook"),
    variables=(
        Variable("shop_name", "Shop name", "string", "Bondi Candles", "Shown in the subject and SMS.",
                 max_length=60),
        Variable("support_email", "Support email", "email", "support@example.com.au", "Customer replies go here."),
        Variable("send_sms", "Also send an SMS", "bool", True, "Text the customer as well."),
        SMTP, SMS,
    ),
    build=_order_confirmation,
    sample_payload={"order_number": 1042, "email": "chloe@example.com",
                    "customer": {"first_name": "Chloe", "phone": "+61 412 000 111"},
                    "line_items": [{"title": "Soy candle – eucalyptus", "quantity": 2, "price": "24.95"}],
                    "total_price": "49.90", "currency": "AUD"},
)


# -- 7. review request -----------------------------------------------------------------------

def _review_request(v: Values) -> dict[str, Any]:
    channel = v["channel"]
    steps: list[dict[str, Any]] = [
        {"key": "links", "action": "data.transform", "name": "Review link", "config": {"mapping": {
            "review_url": v.text("review_url"),
            "name": "{{ trigger.body.name | default('there', true) }}",
        }}},
    ]
    if channel in ("sms", "both"):
        steps.append({"key": "sms", "action": "sms.send", "name": "Review request SMS", "retry": SEND_RETRY,
                      "when": "{{ (trigger.body.phone or '') != '' }}", "config": {
                          "connection": v.text("sms_connection"),
                          "to": "{{ trigger.body.phone }}",
                          "body": v.fmt("Hi {{ steps.links.output.name }}, thanks for choosing [[business_name]]! "
                                        "Would you mind leaving us a quick review? "
                                        "{{ steps.links.output.review_url }}"),
                      }})
    if channel in ("email", "both"):
        steps.append({"key": "email", "action": "email.send", "name": "Review request email", "retry": SEND_RETRY,
                      "when": "{{ (trigger.body.email or '') != '' }}", "config": {
                          "connection": v.text("smtp_connection"),
                          "to": ["{{ trigger.body.email }}"],
                          "subject": v.fmt("How did we go, {{ steps.links.output.name }}?"),
                          "text": v.fmt("Hi {{ steps.links.output.name }},\n\nThanks for choosing [[business_name]]. "
                                        "If you were happy with the job, a short review helps us a lot:\n"
                                        "{{ steps.links.output.review_url }}\n\nThank you!"),
                      }})
    return _definition(v, "Review request", "Asks happy customers for a review after a job.", WEBHOOK, steps)


REVIEW_REQUEST = Template(
    slug="review-request",
    name="Job done → ask for a Google review",
    description="When a job or booking is marked complete, ask the customer for a Google review by SMS, email or "
                "both.",
    category="Marketing",
    tags=("review", "google", "reputation", "sms", "email", "webhook"),
    variables=(
        _business(),
        Variable("review_url", "Review link", "url", "https://g.page/r/your-business/review",
                 "Your Google (or other) review page."),
        Variable("channel", "Send by", "enum", "both", "How to ask.", choices=("sms", "email", "both")),
        SMS, SMTP,
    ),
    build=_review_request,
    sample_payload={"name": "Noah", "phone": "0400 111 222", "email": "noah@example.com", "job": "Blocked drain"},
)


# -- 8. missed call text-back ----------------------------------------------------------------

def _missed_call(v: Values) -> dict[str, Any]:
    steps = [
        {"key": "only_missed", "action": "core.filter", "name": "Only missed calls", "config": {
            "condition": "{{ (trigger.body.DialCallStatus or trigger.body.CallStatus) in "
                         "['no-answer', 'busy', 'failed', 'canceled'] }}",
            "reason": "the call was answered",
        }},
        {"key": "text_back", "action": "sms.send", "name": "Text the caller back", "retry": SEND_RETRY, "config": {
            "connection": v.text("sms_connection"),
            "to": "{{ trigger.body.From }}",
            "body": v.fmt("[[business_name]]: [[message]]"),
        }},
    ]
    return _definition(v, "Missed call text-back", "Texts callers you missed so the lead isn't lost.",
                       {"type": "webhook", "config": {"methods": ["POST"]}}, steps)


MISSED_CALL = Template(
    slug="missed-call-text-back",
    name="Missed call → text the caller back",
    description="Set this webhook as your phone system's call-status callback (e.g. Twilio Voice): when a call is "
                "missed, the caller gets an SMS straight away.",
    category="Sales",
    tags=("phone", "missed call", "sms", "twilio", "webhook"),
    variables=(
        _business(),
        Variable("message", "Message", "text", "Sorry we missed your call! We'll ring you back shortly, or reply "
                 "here if texting is easier.", "The SMS after your business name.", max_length=480),
        SMS,
    ),
    build=_missed_call,
    sample_payload={"From": "+61412345678", "To": "+61290000000", "CallStatus": "no-answer"},
)


# -- 9. new sign-up to Slack -----------------------------------------------------------------

def _signup_slack(v: Values) -> dict[str, Any]:
    headline = v.fmt("[[emoji]] New sign-up: *{{ trigger.body.name | default(trigger.body.email, true) }}*"
                     "{% if trigger.body.plan %} on the {{ trigger.body.plan }} plan{% endif %}")
    steps = [
        {"key": "post", "action": "slack.post_message", "name": "Celebrate on Slack", "retry": SEND_RETRY,
         "config": {
             "connection": v.text("slack_connection"),
             "text": (v.fmt("[[mention]] ") if v["mention"] else "") + headline,
             "blocks": [
                 {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
                 {"type": "context", "elements": [{"type": "mrkdwn",
                                                   "text": "{{ trigger.body.email }} · via FlowMate"}]},
             ],
         }},
    ]
    return _definition(v, "New sign-up alert", "Posts every new customer sign-up to Slack.", WEBHOOK, steps)


SIGNUP_SLACK = Template(
    slug="new-signup-slack",
    name="New customer sign-up → Slack",
    description="Celebrate every new customer: your app or membership system calls the webhook and the team sees "
                "the sign-up in Slack.",
    category="Notifications",
    tags=("signup", "customer", "slack", "webhook"),
    variables=(
        Variable("emoji", "Emoji", "string", ":tada:", "Slack emoji code at the start of the message.",
                 max_length=40),
        Variable("mention", "Mention", "string", "", "Optional, e.g. <!channel> or <@U123>.", required=False,
                 max_length=40),
        SLACK,
    ),
    build=_signup_slack,
    sample_payload={"name": "Ava Brown", "email": "ava@example.com", "plan": "Pro"},
)


# -- 10. overdue invoice ---------------------------------------------------------------------

def _overdue_invoice(v: Values) -> dict[str, Any]:
    steps = [
        {"key": "settings", "action": "data.transform", "name": "Settings",
         "config": {"mapping": {"min_days": v["min_days_overdue"]}}},
        {"key": "only_overdue", "action": "core.filter", "name": "Only overdue enough", "config": {
            "condition": "{{ (trigger.body.days_overdue | int) >= steps.settings.output.min_days }}",
            "reason": "not overdue long enough yet",
        }},
        {"key": "remind", "action": "email.send", "name": "Reminder email", "retry": SEND_RETRY, "config": {
            "connection": v.text("smtp_connection"),
            "to": ["{{ trigger.body.contact.email }}"],
            "reply_to": v.text("accounts_email"),
            "subject": v.fmt("Reminder: invoice {{ trigger.body.invoice_number }} from [[business_name]] is overdue"),
            "text": v.fmt("Hi {{ trigger.body.contact.name | default('there', true) }},\n\nA friendly reminder that "
                          "invoice {{ trigger.body.invoice_number }} for ${{ trigger.body.amount_due }} was due on "
                          "{{ trigger.body.due_date }}.{% if trigger.body.online_invoice_url %} You can view and pay "
                          "it here: {{ trigger.body.online_invoice_url }}{% endif %}\n\nIf you've already paid, "
                          "thank you and please ignore this email.\n\n[[business_name]]"),
        }},
        {"key": "tell_accounts", "action": "slack.post_message", "name": "Tell accounts", "retry": SEND_RETRY,
         "config": {
             "connection": v.text("slack_connection"),
             "text": ":hourglass: Reminder sent for invoice {{ trigger.body.invoice_number }} "
                     "({{ trigger.body.contact.name }}, ${{ trigger.body.amount_due }}, "
                     "{{ trigger.body.days_overdue }} days overdue)",
         }},
    ]
    return _definition(v, "Overdue invoice reminder", "Reminds customers about overdue invoices.", WEBHOOK, steps)


OVERDUE_INVOICE = Template(
    slug="overdue-invoice-reminder",
    name="Overdue invoice → reminder email + Slack",
    description="When your accounting system reports an overdue invoice (Xero-style payload), email the customer "
                "a friendly reminder and tell the accounts channel.",
    category="Billing",
    tags=("invoice", "xero", "accounts", "email", "slack", "webhook"),
    variables=(
        _business(),
        Variable("min_days_overdue", "Days overdue", "int", 7, "Only remind when at least this many days overdue.",
                 min=0, max=365),
        Variable("accounts_email", "Accounts email", "email", "accounts@example.com.au", "Replies go here."),
        SMTP, SLACK,
    ),
    build=_overdue_invoice,
    sample_payload={"invoice_number": "INV-0193", "contact": {"name": "Liam Taylor", "email": "liam@example.com"},
                    "amount_due": "660.00", "due_date": "2025-06-14", "days_overdue": 12,
                    "online_invoice_url": "https://in.example.com/abc"},
)


# -- 11. contact form auto-reply ---------------------------------------------------------------

def _contact_autoreply(v: Values) -> dict[str, Any]:
    steps = [
        {"key": "autoreply", "action": "email.send", "name": "Auto-reply", "retry": SEND_RETRY, "config": {
            "connection": v.text("smtp_connection"),
            "to": ["{{ trigger.body.email }}"],
            "reply_to": v.text("team_email"),
            "subject": v.fmt("We got your message – [[business_name]]"),
            "text": v.fmt("Hi {{ trigger.body.name | default('there', true) }},\n\nThanks for your message. "
                          "Someone from [[business_name]] will reply within [[reply_hours]] hours.\n\n"
                          "Your message:\n{{ trigger.body.message }}"),
        }},
        {"key": "forward", "action": "email.send", "name": "Forward to the team", "retry": SEND_RETRY, "config": {
            "connection": v.text("smtp_connection"),
            "to": [v.text("team_email")],
            "reply_to": "{{ trigger.body.email }}",
            "subject": "Website message from {{ trigger.body.name | default(trigger.body.email, true) }}",
            "text": "From: {{ trigger.body.name }} <{{ trigger.body.email }}>\nPhone: {{ trigger.body.phone }}\n\n"
                    "{{ trigger.body.message }}",
        }},
    ]
    return _definition(v, "Contact form auto-reply", "Acknowledges website messages and forwards them.", WEBHOOK,
                       steps)


CONTACT_AUTOREPLY = Template(
    slug="contact-form-autoreply",
    name="Contact form → auto-reply + forward to inbox",
    description="Reassure people who use your contact form with an instant reply, and forward the message to your "
                "inbox with Reply-To set to the sender.",
    category="Customer service",
    tags=("contact form", "auto-reply", "email", "webhook"),
    variables=(
        _business(),
        Variable("team_email", "Team inbox", "email", "hello@example.com.au", "Messages are forwarded here."),
        Variable("reply_hours", "Reply within (hours)", "int", 24, "Promise in the auto-reply.", min=1, max=168),
        SMTP,
    ),
    build=_contact_autoreply,
    sample_payload={"name": "Isla", "email": "isla@example.com", "phone": "0433 222 111",
                    "message": "Do you work weekends?"},
)


# -- 12. low stock ---------------------------------------------------------------------------

def _low_stock(v: Values) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"key": "settings", "action": "data.transform", "name": "Settings",
         "config": {"mapping": {"threshold": v["threshold"]}}},
        {"key": "only_low", "action": "core.filter", "name": "Only when stock is low", "config": {
            "condition": "{{ (trigger.body.quantity | int) <= steps.settings.output.threshold }}",
            "reason": "stock is above the threshold",
        }},
        {"key": "alert", "action": "slack.post_message", "name": "Alert on Slack", "retry": SEND_RETRY, "config": {
            "connection": v.text("slack_connection"),
            "text": ":warning: Low stock: *{{ trigger.body.name }}* ({{ trigger.body.sku }}) has "
                    "{{ trigger.body.quantity }} left",
        }},
    ]
    if v["email_supplier"]:
        steps.append({"key": "reorder", "action": "email.send", "name": "Ask the supplier", "retry": SEND_RETRY,
                      "config": {
                          "connection": v.text("smtp_connection"),
                          "to": [v.text("supplier_email")],
                          "subject": v.fmt("Re-order request from [[business_name]]: {{ trigger.body.sku }}"),
                          "text": v.fmt("Hello,\n\nPlease send a quote for re-stocking {{ trigger.body.name }} "
                                        "(SKU {{ trigger.body.sku }}). We have {{ trigger.body.quantity }} left.\n\n"
                                        "Thanks,\n[[business_name]]"),
                      }})
    return _definition(v, "Low stock alert", "Warns the team and the supplier when stock runs low.", WEBHOOK, steps)


LOW_STOCK = Template(
    slug="low-stock-alert",
    name="Low stock alert → Slack + email supplier",
    description="Your inventory or POS system posts stock levels; when an item drops to the threshold the team is "
                "alerted on Slack and the supplier gets a re-order request.",
    category="Operations",
    tags=("inventory", "stock", "pos", "slack", "email", "webhook"),
    variables=(
        _business("Bondi Candles"),
        Variable("threshold", "Alert at or below", "int", 5, "Quantity that counts as low.", min=0, max=100_000),
        Variable("email_supplier", "Email the supplier", "bool", True, "Also send a re-order request."),
        Variable("supplier_email", "Supplier email", "email", "orders@supplier.example.com.au",
                 "Where re-order requests go."),
        SLACK, SMTP,
    ),
    build=_low_stock,
    sample_payload={"sku": "CND-EUC-200", "name": "Soy candle – eucalyptus", "quantity": 3},
)


# -- 13. weekly digest email -----------------------------------------------------------------

def _weekly_digest(v: Values) -> dict[str, Any]:
    steps = [
        {"key": "fetch", "action": "http.request", "name": "Fetch the week's figures", "retry": API_RETRY,
         "config": {"method": "GET", "url": v.text("report_path"), "connection": v.text("api_connection")}},
        {"key": "email", "action": "email.send", "name": "Email the digest", "retry": SEND_RETRY, "config": {
            "connection": v.text("smtp_connection"),
            "to": v.text("recipients"),
            "subject": v.fmt("[[business_name]] weekly digest – {{ (trigger.scheduled_at or run.started_at)[:10] }}"),
            "text": v.fmt("[[business_name]] – week to {{ (trigger.scheduled_at or run.started_at)[:10] }}\n\n")
            + _REPORT_LINES,
        }},
    ]
    return _definition(v, "Weekly digest email", "Emails a weekly summary from your system.",
                       {"type": "cron", "config": {"expression": v["schedule"]}}, steps, timezone=v["timezone"])


WEEKLY_DIGEST = Template(
    slug="weekly-digest-email",
    name="Weekly digest email",
    description="On a schedule you choose (Monday 8am by default), fetch a summary from your system's API and email "
                "it to the owners.",
    category="Reporting",
    tags=("cron", "schedule", "report", "email", "api"),
    variables=(
        _business(),
        Variable("schedule", "Schedule", "cron", "0 8 * * 1", "Cron expression: when to send."),
        TIMEZONE,
        Variable("recipients", "Recipients", "emails", ["owner@example.com.au"], "Comma-separated addresses."),
        Variable("report_path", "Report path", "path", "/reports/weekly",
                 "Path on your API connection returning a JSON object of figures."),
        API, SMTP,
    ),
    build=_weekly_digest,
    sample_payload={"scheduled_at": "2025-06-29T22:00:00+00:00"},
)


# -- 14. signed lead forwarding --------------------------------------------------------------

def _lead_forward(v: Values) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": "POST", "url": v.text("target_path"), "connection": v.text("api_connection"),
        "json": "{{ steps.lead.output }}",
    }
    if v["sign_requests"]:
        request["sign"] = {"secret_connection": v.text("api_connection"), "header": v["signature_header"],
                           "algorithm": "sha256", "prefix": "sha256="}
    steps = [
        {"key": "lead", "action": "data.transform", "name": "Shape the lead", "config": {"mapping": {
            "email": "{{ trigger.body.email | trim | lower }}",
            "name": "{{ trigger.body.name | default((trigger.body.first_name ~ ' ' ~ trigger.body.last_name) | trim, "
                    "true) }}",
            "phone": "{{ trigger.body.phone | default('', true) }}",
            "source": v.text("source_label"),
            "received_at": "{{ run.started_at }}",
        }}},
        {"key": "forward", "action": "http.request", "name": "POST to your API", "retry": API_RETRY,
         "config": request},
    ]
    return _definition(v, "Forward leads to your API", "Sends each lead to your own system, HMAC-signed.", WEBHOOK,
                       steps)


LEAD_FORWARD = Template(
    slug="lead-forward-signed",
    name="Forward leads to your own API (signed)",
    description="Reshape incoming leads into one clean JSON shape and POST them to your own system, signed with "
                "HMAC-SHA256 so it can verify they came from FlowMate.",
    category="Integrations",
    tags=("api", "http", "hmac", "lead", "webhook", "developer"),
    variables=(
        Variable("target_path", "Path", "path", "/leads", "Path on your API connection to POST to."),
        Variable("sign_requests", "Sign requests", "bool", True,
                 "Add an HMAC-SHA256 signature made with the connection's signing_secret."),
        Variable("signature_header", "Signature header", "enum", "X-FlowMate-Signature", "Header for the signature.",
                 choices=("X-FlowMate-Signature", "X-Signature", "X-Hub-Signature-256")),
        Variable("source_label", "Source label", "string", "website", "Stored with every lead as 'source'.",
                 max_length=60),
        API,
    ),
    build=_lead_forward,
    sample_payload={"first_name": "Ethan", "last_name": "Lee", "email": "Ethan.Lee@Example.com",
                    "phone": "0455 666 777"},
)


# -- integrations: signed provider webhooks, OAuth connections, polling ----------------------
# These need a Stripe/Shopify/Xero signing secret pasted into the trigger after creating the
# workflow (until then every delivery is refused), or a Google Sheets / Xero / Mailchimp connection.

XERO = _conn("xero_connection", "Xero connection", ("xero",), "xero",
             "The Xero connection (Connect on the Connections page, then choose the organisation).")
SHEETS = _conn("sheets_connection", "Google Sheets connection", ("google_sheets",), "google",
               "The Google Sheets connection (Connect on the Connections page).")
MAILCHIMP = _conn("mailchimp_connection", "Mailchimp connection", ("mailchimp",), "mailchimp",
                  "The Mailchimp connection (API key).")


def _stripe_to_xero(v: Values) -> dict[str, Any]:
    session = "trigger.body.data.object"
    steps = [
        {"key": "contact", "action": "xero.upsert_contact", "name": "Customer in Xero", "retry": API_RETRY,
         "config": {"connection": v.text("xero_connection"),
                    "name": f"{{{{ {session}.customer_details.name or {session}.customer_details.email }}}}",
                    "email": f"{{{{ {session}.customer_details.email }}}}"}},
        {"key": "invoice", "action": "xero.create_invoice", "name": "Invoice in Xero", "retry": API_RETRY,
         "config": {"connection": v.text("xero_connection"), "contact_id": "{{ steps.contact.output.contact_id }}",
                    "status": "AUTHORISED", "line_amount_types": "Inclusive",
                    "reference": f"Stripe {{{{ {session}.id }}}}",
                    "currency_code": f"{{{{ {session}.currency | default('aud') | upper }}}}",
                    "line_items": [{"description": v.text("item_description"), "quantity": 1,
                                    "unit_amount": f"{{{{ ({session}.amount_total | int) / 100 }}}}",
                                    "account_code": v.text("sales_account"), "tax_type": "OUTPUT"}]}},
        {"key": "payment", "action": "xero.record_payment", "name": "Mark it paid", "retry": API_RETRY,
         "config": {"connection": v.text("xero_connection"), "invoice_id": "{{ steps.invoice.output.invoice_id }}",
                    "account_code": v.text("bank_account"), "amount": f"{{{{ ({session}.amount_total | int) / 100 }}}}",
                    "reference": f"Stripe {{{{ {session}.payment_intent or {session}.id }}}}"}},
        {"key": "receipt", "action": "email.send", "name": "Email the receipt", "retry": SEND_RETRY, "config": {
            "connection": v.text("smtp_connection"),
            "to": [f"{{{{ {session}.customer_details.email }}}}"],
            "subject": v.fmt("Your receipt from [[business_name]] ({{ steps.invoice.output.invoice_number }})"),
            "text": v.fmt("Hi {{ " + session + ".customer_details.name | default('there', true) }},\n\nThanks for "
                          "your payment of ${{ '%.2f' | format((" + session + ".amount_total | int) / 100) }}. "
                          "Your invoice number is {{ steps.invoice.output.invoice_number }}.\n\n[[business_name]]"),
        }},
    ]
    trigger = {"type": "webhook", "config": {"methods": ["POST"], "auth": {"type": "stripe"},
                                             "events": ["checkout.session.completed"]}}
    return _definition(v, "Stripe payment to Xero", "Invoices each Stripe Checkout payment in Xero, marks it paid "
                       "and emails a receipt.", trigger, steps)


STRIPE_TO_XERO = Template(
    slug="stripe-payment-to-xero",
    name="Stripe payment → Xero invoice + receipt",
    description="Add a Stripe webhook endpoint for checkout.session.completed pointing here and paste its signing "
                "secret into the trigger: every payment becomes a paid invoice in Xero (GST inclusive) and the "
                "customer gets a receipt.",
    category="Accounting",
    tags=("stripe", "xero", "payment", "invoice", "gst", "email", "webhook"),
    variables=(
        _business("Harbour Bakery"),
        Variable("item_description", "Invoice line", "string", "Online order", "Description on the Xero invoice "
                 "line.", max_length=200),
        Variable("sales_account", "Sales account code", "string", "200", "Xero revenue account for the line.",
                 max_length=10),
        Variable("bank_account", "Bank account code", "string", "090", "Xero bank account the payment goes to "
                 "(your Stripe clearing account).", max_length=10),
        XERO, SMTP,
    ),
    build=_stripe_to_xero,
    sample_payload={"id": "evt_1PqRsTuVwXyZ", "object": "event", "type": "checkout.session.completed", "data": {
        "object": {"id": "cs_test_a1B2c3", "object": "checkout.session", "amount_total": 4950, "currency": "aud",
                   "payment_intent": "pi_3PqRsT", "customer_details": {"name": "Mia Nguyen",
                                                                       "email": "mia@nguyencafe.example"}}}},
)


def _shopify_to_sheet(v: Values) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"key": "row", "action": "sheets.append_row", "name": "Add the order to the sheet", "retry": API_RETRY,
         "config": {"connection": v.text("sheets_connection"), "spreadsheet_id": v.text("spreadsheet_id"),
                    "sheet": v.text("sheet"), "values": {
                        "Order": "{{ trigger.body.name or trigger.body.order_number }}",
                        "Date": "{{ (trigger.body.created_at or '')[:10] }}",
                        "Customer": "{{ trigger.body.customer.first_name }} {{ trigger.body.customer.last_name }}",
                        "Email": "{{ trigger.body.email or trigger.body.customer.email }}",
                        "Total": "{{ trigger.body.total_price }}"}}},
    ]
    if v["send_sms"]:
        steps.append({"key": "sms", "action": "sms.send", "name": "Text the customer", "retry": SEND_RETRY,
                      "when": "{{ (trigger.body.customer.phone or '') != '' }}", "config": {
                          "connection": v.text("sms_connection"), "to": "{{ trigger.body.customer.phone }}",
                          "body": v.fmt("[[business_name]]: thanks for order {{ trigger.body.name }} "
                                        "(${{ trigger.body.total_price }}). We'll text you when it ships."),
                      }})
    trigger = {"type": "webhook", "config": {"methods": ["POST"], "auth": {"type": "shopify"},
                                             "events": ["orders/create"]}}
    return _definition(v, "Shopify order to Google Sheet", "Adds each Shopify order to a sheet and texts the "
                       "customer.", trigger, steps)


SHOPIFY_TO_SHEET = Template(
    slug="shopify-order-to-sheet",
    name="Shopify order → Google Sheet row + SMS",
    description="Create an orders/create webhook in Shopify pointing here and paste the signing secret into the "
                "trigger: each order becomes a row (columns Order, Date, Customer, Email, Total) and the customer "
                "gets a thank-you text.",
    category="E-commerce",
    tags=("shopify", "order", "google sheets", "sheets", "sms", "webhook"),
    variables=(
        _business("Bondi Candles"),
        Variable("spreadsheet_id", "Spreadsheet ID", "string", "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
                 "The long id in the sheet's URL, between /d/ and /edit.", max_length=200),
        Variable("sheet", "Tab", "string", "Orders", "The tab the rows go to (row 1 holds the column names).",
                 max_length=100),
        Variable("send_sms", "Also send an SMS", "bool", True, "Text the customer when they gave a mobile number."),
        SHEETS, SMS,
    ),
    build=_shopify_to_sheet,
    sample_payload={"id": 820982911946154508, "name": "#1042", "created_at": "2026-12-01T10:15:00+11:00",
                    "email": "chloe@example.com", "total_price": "49.90", "currency": "AUD",
                    "customer": {"first_name": "Chloe", "last_name": "Park", "phone": "+61 412 000 111"}},
)


def _sheet_to_mailchimp(v: Values) -> dict[str, Any]:
    steps = [
        {"key": "member", "action": "mailchimp.upsert_member", "name": "Add to the Mailchimp audience",
         "retry": API_RETRY, "config": {
             "connection": v.text("mailchimp_connection"), "audience_id": v.text("audience_id"),
             "email": "{{ trigger.item.Email }}",
             "merge_fields": {"FNAME": "{{ trigger.item['First name'] | default('', true) }}",
                              "LNAME": "{{ trigger.item['Last name'] | default('', true) }}"},
             "tags": [v.text("tag")],
             # No "consented" flag: Mailchimp emails each new person a confirmation first (double opt-in).
         }},
    ]
    trigger = {"type": "sheets.new_row", "config": {"connection": v["sheets_connection"],
                                                    "spreadsheet_id": v["spreadsheet_id"], "sheet": v["sheet"],
                                                    "interval_minutes": v["interval_minutes"]}}
    return _definition(v, "Sheet row to Mailchimp", "Adds each new row of a sign-up sheet to a Mailchimp audience.",
                       trigger, steps)


SHEET_TO_MAILCHIMP = Template(
    slug="sheet-row-to-mailchimp",
    name="New sheet row → Mailchimp member",
    description="Checks a Google Sheet (columns Email, First name, Last name) every few minutes and adds each new "
                "row to your Mailchimp audience with double opt-in. Rows already in the sheet are left alone.",
    category="Marketing",
    tags=("google sheets", "sheets", "mailchimp", "marketing", "polling"),
    variables=(
        Variable("spreadsheet_id", "Spreadsheet ID", "string", "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
                 "The long id in the sheet's URL, between /d/ and /edit.", max_length=200),
        Variable("sheet", "Tab", "string", "Sign-ups", "The tab with the sign-ups.", max_length=100),
        Variable("interval_minutes", "Check every (minutes)", "int", 5, "How often the sheet is checked.",
                 min=1, max=1440),
        Variable("audience_id", "Audience ID", "string", "a1b2c3d4e5", "Mailchimp: Audience → Settings → "
                 "Audience name and defaults.", max_length=50),
        Variable("tag", "Tag", "string", "sheet-signup", "Tag added to each member.", max_length=100),
        SHEETS, MAILCHIMP,
    ),
    build=_sheet_to_mailchimp,
    sample_payload={"item": {"Email": "ava@example.com", "First name": "Ava", "Last name": "Brown", "_row": 5},
                    "item_id": "row:5", "polled_at": "2026-12-01T00:00:00+00:00"},
)

#: Templates built on the integrations (signed provider webhooks, OAuth connections, polling).
INTEGRATION_TEMPLATES: tuple[Template, ...] = (STRIPE_TO_XERO, SHOPIFY_TO_SHEET, SHEET_TO_MAILCHIMP)

TEMPLATES: tuple[Template, ...] = (
    NEW_LEAD, DAILY_REPORT, FAILED_PAYMENT, FORM_TO_CRM, APPOINTMENT_REMINDER, ORDER_CONFIRMATION, REVIEW_REQUEST,
    MISSED_CALL, SIGNUP_SLACK, OVERDUE_INVOICE, CONTACT_AUTOREPLY, LOW_STOCK, WEEKLY_DIGEST, LEAD_FORWARD,
    *INTEGRATION_TEMPLATES,
)
