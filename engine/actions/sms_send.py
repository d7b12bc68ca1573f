"""``sms.send``: send a text message through a Twilio or ClickSend connection.

Numbers are parsed with ``phonenumbers`` and sent in E.164 form; local numbers are read in the
step's default region (Australia unless changed), so ``0412 345 678`` becomes ``+61412345678``.
Each provider's real REST shape is used:

* Twilio: ``POST {base}/2010-04-01/Accounts/{sid}/Messages.json``, form-encoded To/From/Body,
  HTTP Basic ``account_sid:auth_token``;
* ClickSend: ``POST {base}/v3/sms/send`` with ``{"messages": [...]}``, HTTP Basic
  ``username:api_key``; our idempotency key travels as ``custom_string``.

429/5xx/timeouts are retryable; other 4xx (bad number, bad credentials, no credit) are
permanent and carry the provider's message.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.actions._provider import join_url, json_body, raise_for_status, reveal, send
from engine.context import ActionContext, ConnectionData
from engine.errors import PermanentError, SkipStep
from engine.registry import action

TWILIO_BASE = "https://api.twilio.com"
CLICKSEND_BASE = "https://rest.clicksend.com"
MAX_BODY = 1600
_ALPHA_SENDER = re.compile(r"^[A-Za-z0-9 ]{1,11}$")
_OPT_OUT = re.compile(r"\b(stop|opt[- ]?out|unsubscribe)\b", re.IGNORECASE)


def normalise_number(value: str, region: str = "AU") -> str:
    """Return ``value`` as E.164 (``+61412345678``) or raise PermanentError saying why."""
    text = str(value or "").strip()
    if not text:
        raise PermanentError("no phone number given")
    try:
        parsed = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise PermanentError(f"{text!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise PermanentError(f"{text!r} is not a valid phone number for region {region.upper()}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_sender(value: str | None, region: str) -> str | None:
    """A sender is a phone number (made E.164) or an alphanumeric sender id of up to 11 chars."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if any(ch.isalpha() for ch in text):
        if not _ALPHA_SENDER.match(text):
            raise PermanentError(f"sender id {text!r} must be 1-11 letters, digits or spaces")
        return text
    return normalise_number(text, region)


class Config(BaseModel):
    """The builder's form for sending an SMS."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    connection: str = Field(title="SMS connection", description="Name or id of a twilio or clicksend connection.",
                            examples=["sms"])
    to: str = Field(title="To", description="Recipient mobile number; local numbers use the default region.",
                    examples=["{{ trigger.body.phone }}", "0412 345 678", "+61412345678"], max_length=64)
    body: str = Field(title="Message", description=f"Text to send (up to {MAX_BODY} characters).",
                      examples=["Hi {{ trigger.body.name }}, see you at 10am tomorrow!"],
                      min_length=1, max_length=MAX_BODY)
    sender: str | None = Field(None, alias="from", title="From",
                               description="Overrides the connection's sender: a number or an alphanumeric id.",
                               examples=["HarbourDent", "+61400000000"], max_length=64)
    default_region: str = Field("AU", title="Default region",
                                description="Two-letter country code used for numbers without a +country prefix.",
                                examples=["AU", "NZ"], min_length=2, max_length=2)
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30],
                             description="Give up (and retry per the step's retry policy) after this many seconds.")
    purpose: Literal["transactional", "marketing"] = Field(
        "transactional", title="Purpose",
        description="transactional: confirmations and reminders. marketing: sent only to numbers that "
                    "consented and did not reply STOP; the sender's name and 'Reply STOP to opt out' are "
                    "added unless the text already has an opt-out.",
        examples=["transactional", "marketing"])
    sender_name: str | None = Field(None, title="Sender name (marketing)", max_length=60,
                                    description="Who the message is from, added to marketing texts "
                                                "(default: the workspace name).", examples=["Harbour Dental"])

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a known region code (e.g. AU, NZ, GB)")
        return value

    @field_validator("to")
    @classmethod
    def _valid_to(cls, value: str, info: Any) -> str:
        # Checked again (with the final region) in run(); this gives the builder an early error.
        text = value.strip()
        try:
            phonenumbers.parse(text, (info.data.get("default_region") or "AU").upper())
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"{text!r} is not a phone number ({exc})") from None
        return text


async def _send_twilio(ctx: ActionContext, conn: ConnectionData, to: str, sender: str | None,
                       config: Config) -> dict[str, Any]:
    sid = str(conn.config.get("account_sid") or "").strip()
    token = reveal(conn.secret.get("auth_token") or "")
    if not sid or not token:
        raise PermanentError(f"connection {conn.name!r} needs account_sid and auth_token")
    sender = sender or normalise_sender(conn.config.get("from_number"), config.default_region)
    if not sender:
        raise PermanentError(f"no sender: set 'from' on the step or from_number on connection {conn.name!r}")
    url = join_url(conn.config.get("base_url") or TWILIO_BASE, f"/2010-04-01/Accounts/{sid}/Messages.json")
    what = "Twilio send SMS"
    response = await send(ctx.settings, "POST", url, what=what, secrets=[token], timeout=config.timeout_s,
                          data={"To": to, "From": sender, "Body": config.body}, auth=(sid, token),
                          headers={"Idempotency-Key": ctx.idempotency_key, "Accept": "application/json"})
    raise_for_status(response, what=what, secrets=[token])
    data = json_body(response) or {}
    if data.get("status") in ("failed", "undelivered"):
        raise PermanentError(f"{what}: message {data.get('status')}: {data.get('error_message') or 'no reason given'}")
    return {"provider": "twilio", "message_id": data.get("sid"), "status": data.get("status") or "queued",
            "to": to, "from": sender, "segments": _int(data.get("num_segments"))}


async def _send_clicksend(ctx: ActionContext, conn: ConnectionData, to: str, sender: str | None,
                          config: Config) -> dict[str, Any]:
    username = str(conn.config.get("username") or "").strip()
    api_key = reveal(conn.secret.get("api_key") or "")
    if not username or not api_key:
        raise PermanentError(f"connection {conn.name!r} needs username and api_key")
    sender = sender or normalise_sender(conn.config.get("from_number"), config.default_region)
    message: dict[str, Any] = {"to": to, "body": config.body, "source": "flowmate",
                               "custom_string": ctx.idempotency_key}
    if sender:
        message["from"] = sender
    url = join_url(conn.config.get("base_url") or CLICKSEND_BASE, "/v3/sms/send")
    what = "ClickSend send SMS"
    response = await send(ctx.settings, "POST", url, what=what, secrets=[api_key], timeout=config.timeout_s,
                          json={"messages": [message]}, auth=(username, api_key),
                          headers={"Idempotency-Key": ctx.idempotency_key, "Accept": "application/json"})
    raise_for_status(response, what=what, secrets=[api_key])
    data = json_body(response) or {}
    messages = ((data.get("data") or {}).get("messages") or []) if isinstance(data, dict) else []
    first = messages[0] if messages and isinstance(messages[0], dict) else {}
    status = str(first.get("status") or data.get("response_code") or "SUCCESS")
    if status.upper() != "SUCCESS":
        # ClickSend answers 200 with a per-message status such as INVALID_RECIPIENT or INSUFFICIENT_CREDIT.
        raise PermanentError(f"{what}: message refused: {status}")
    return {"provider": "clicksend", "message_id": first.get("message_id"), "status": status.lower(),
            "to": to, "from": sender, "segments": _int(first.get("message_parts"))}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def with_opt_out(body: str, sender_name: str) -> str:
    """Marketing text identifies the sender and says how to opt out (Spam Act), once."""
    if _OPT_OUT.search(body):
        return body
    return f"{body.rstrip()}\n{sender_name}: Reply STOP to opt out"


@action(
    "sms.send",
    config=Config,
    title="Send SMS",
    description="Text a mobile number through Twilio or ClickSend (Australian numbers like 0412 345 678 work).",
    category="sms",
    side_effect=True,
    connection_types=("twilio", "clicksend"),
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    to = normalise_number(config.to, config.default_region)
    sender = normalise_sender(config.sender, config.default_region)
    if config.purpose == "marketing":
        reason = ctx.consent().marketing_refusal(ctx.workspace_id, "sms", to)
        if reason:
            raise SkipStep(f"marketing SMS not sent: {reason}", output={"purpose": "marketing", "to": to})
        name = config.sender_name or (sender if sender and not sender.startswith("+") else None) \
            or ctx.consent().workspace_name(ctx.workspace_id)
        body = with_opt_out(config.body, name)
        if len(body) > MAX_BODY:
            raise PermanentError(f"the message with its opt-out line is {len(body)} characters; "
                                 f"at most {MAX_BODY} fit")
        config = config.model_copy(update={"body": body})
    conn = ctx.get_connection(config.connection)
    if conn.type == "twilio":
        return await _send_twilio(ctx, conn, to, sender, config)
    if conn.type == "clicksend":
        return await _send_clicksend(ctx, conn, to, sender, config)
    raise PermanentError(f"connection {conn.name!r} has type {conn.type!r}, expected 'twilio' or 'clicksend'")
