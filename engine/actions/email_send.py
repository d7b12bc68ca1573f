"""``email.send``: send an email through an SMTP connection (STARTTLS, SSL or plain).

The Message-ID is derived from the step's idempotency key, so a retried step sends a message
with the *same* Message-ID and receiving systems can de-duplicate it. With both a text and an
HTML body the message is multipart/alternative (text first, so mail clients prefer HTML but
plain-text readers still get words). Bcc recipients only appear in the SMTP envelope.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from html import escape
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.actions._smtp import classify, close_quietly, open_smtp, smtp_settings
from engine.context import ActionContext
from engine.errors import PermanentError, SkipStep
from engine.messaging import UNSUBSCRIBE_PLACEHOLDER
from engine.outbound import resolve_allowed
from engine.registry import action

MAX_RECIPIENTS = 100


def message_id_for(idempotency_key: str) -> str:
    """``<sha256-hex-prefix@flowmate>``: stable per (run, step), unguessable, RFC 5322 shaped."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}@flowmate>"


def _address_list(value: Any) -> list[str]:
    """Accept a list, or one string with comma/semicolon separated addresses."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list | tuple) else str(value).replace(";", ",").split(",")
    out: list[str] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            out.append(validate_email(text, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise ValueError(f"{text!r} is not a valid email address: {exc}") from None
    return out


class Config(BaseModel):
    """The builder's form for sending an email."""

    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="SMTP connection", description="Name or id of an smtp connection.",
                            examples=["smtp"])
    to: list[str] = Field(title="To", description="One or more recipients (a list, or comma-separated text).",
                          examples=[["{{ trigger.body.email }}"], "ana@example.com, li@example.com"])
    cc: list[str] = Field(default_factory=list, title="Cc", description="Copy recipients.",
                          examples=[["office@example.com.au"]])
    bcc: list[str] = Field(default_factory=list, title="Bcc",
                           description="Hidden recipients: in the SMTP envelope only, never in the headers.",
                           examples=[["archive@example.com.au"]])
    subject: str = Field(title="Subject", description="One line; expressions allowed.", max_length=998,
                         examples=["Thanks for your enquiry, {{ trigger.body.name }}"])
    text: str | None = Field(None, title="Text body", description="Plain-text body.", max_length=1_000_000,
                             examples=["Hi {{ trigger.body.name }},\n\nThanks for getting in touch."])
    html: str | None = Field(None, title="HTML body",
                             description="HTML body; sent together with the text body as alternatives.",
                             max_length=1_000_000, examples=["<p>Hi {{ trigger.body.name }},</p>"])
    reply_to: str | None = Field(None, title="Reply-To", description="Where replies should go.",
                                 examples=["bookings@example.com.au"])
    from_name: str | None = Field(None, title="From name",
                                  description="Overrides the connection's sender name for this email.",
                                  examples=["Harbour Dental"], max_length=200)
    timeout_s: float = Field(30.0, gt=0, le=300, title="Timeout (seconds)", examples=[30],
                             description="Give up (and retry per the step's retry policy) after this many seconds.")
    purpose: Literal["transactional", "marketing"] = Field(
        "transactional", title="Purpose",
        description="transactional: receipts, confirmations, reminders. marketing: offers and newsletters; "
                    "sent only to contacts who consented and are not suppressed, each with a one-click "
                    "unsubscribe link ({{ unsubscribe_url }} in the body, or added at the end).",
        examples=["transactional", "marketing"])

    @field_validator("to", "cc", "bcc", mode="before")
    @classmethod
    def _split(cls, value: Any) -> list[str]:
        return _address_list(value)

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _address_list(value)[0]

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # Header injection is impossible with EmailMessage, but a newline is still a mistake.
        return " ".join(value.split())

    @model_validator(mode="after")
    def _check(self) -> Config:
        if not self.to:
            raise ValueError("at least one 'to' recipient is required")
        if not (self.text or self.html):
            raise ValueError("set a text body, an HTML body, or both")
        if len(self.to) + len(self.cc) + len(self.bcc) > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} recipients per email")
        if self.purpose == "marketing" and (self.cc or self.bcc):
            raise ValueError("marketing emails go to each recipient on their own: leave cc and bcc empty")
        return self


def unsubscribe_url(ctx: ActionContext, address: str) -> str:
    token = ctx.consent().unsubscribe_token(ctx.workspace_id, address)
    return f"{ctx.settings.base_url.rstrip('/')}/api/unsubscribe/{token}"


def with_unsubscribe(config: Config, to: str, url: str) -> Config:
    """The config for one marketing recipient: their link in place of ``{{ unsubscribe_url }}``,
    or a short footer with it when the body has no placeholder."""
    text, html = config.text, config.html
    if text is not None:
        text = (text.replace(UNSUBSCRIBE_PLACEHOLDER, url) if UNSUBSCRIBE_PLACEHOLDER in text
                else f"{text.rstrip()}\n\n--\nDon't want these emails? Unsubscribe: {url}\n")
    if html is not None:
        html = (html.replace(UNSUBSCRIBE_PLACEHOLDER, escape(url, quote=True)) if UNSUBSCRIBE_PLACEHOLDER in html
                else f'{html}\n<p style="font-size:12px;color:#666">Don\'t want these emails? '
                     f'<a href="{escape(url, quote=True)}">Unsubscribe</a></p>')
    subject = config.subject.replace(UNSUBSCRIBE_PLACEHOLDER, "")
    return config.model_copy(update={"to": [to], "subject": subject, "text": text, "html": html})


def build_message(config: Config, *, from_email: str, from_name: str | None, message_id: str,
                  unsubscribe: str | None = None) -> EmailMessage:
    """The MIME message (headers + bodies). Bcc is deliberately not a header.

    ``unsubscribe`` adds ``List-Unsubscribe`` and ``List-Unsubscribe-Post`` (RFC 8058 one-click:
    mail clients POST to the link without opening a page; sign these headers with DKIM at the relay).
    """
    msg = EmailMessage()
    sender = Address(display_name=from_name or "", addr_spec=from_email)
    msg["From"] = sender
    msg["To"] = ", ".join(config.to)
    if config.cc:
        msg["Cc"] = ", ".join(config.cc)
    if config.reply_to:
        msg["Reply-To"] = config.reply_to
    msg["Subject"] = config.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id
    msg["X-Mailer"] = "FlowMate"
    if unsubscribe:
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if config.text and config.html:
        msg.set_content(config.text)
        msg.add_alternative(config.html, subtype="html")
    elif config.html:
        msg.set_content(config.html, subtype="html")
    else:
        msg.set_content(config.text or "")
    return msg


@action(
    "email.send",
    config=Config,
    title="Send email",
    description="Send an email (text and/or HTML) through your SMTP server.",
    category="email",
    side_effect=True,
    connection_types=("smtp",),
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    conn = ctx.get_connection(config.connection)
    smtp = smtp_settings(conn)
    where = f"SMTP {smtp.host}:{smtp.port}"
    skipped: list[dict[str, str]] = []
    if config.purpose == "marketing":
        for address in config.to:
            reason = ctx.consent().marketing_refusal(ctx.workspace_id, "email", address.lower())
            if reason:
                skipped.append({"to": address, "reason": reason})
        if len(skipped) == len(config.to):
            raise SkipStep("marketing email not sent: " + "; ".join(s["reason"] for s in skipped),
                           output={"purpose": "marketing", "skipped_recipients": skipped})
    try:
        ips = await resolve_allowed(smtp.host, smtp.port, ctx.settings)
    except socket.gaierror as exc:
        raise PermanentError(f"{where}: the host name does not resolve ({exc})") from None

    from_name = config.from_name or smtp.from_name
    if config.purpose == "marketing":
        refused_to = {s["to"] for s in skipped}
        outgoing = []
        for address in config.to:
            if address in refused_to:
                continue
            url = unsubscribe_url(ctx, address.lower())
            key = ctx.idempotency_key if len(config.to) == 1 else f"{ctx.idempotency_key}:{address.lower()}"
            outgoing.append((build_message(with_unsubscribe(config, address, url), from_email=smtp.from_email,
                                           from_name=from_name, message_id=message_id_for(key), unsubscribe=url),
                             [address]))
    else:
        plain = config.model_copy(update={
            "subject": config.subject.replace(UNSUBSCRIBE_PLACEHOLDER, ""),
            "text": config.text.replace(UNSUBSCRIBE_PLACEHOLDER, "") if config.text else config.text,
            "html": config.html.replace(UNSUBSCRIBE_PLACEHOLDER, "") if config.html else config.html})
        outgoing = [(build_message(plain, from_email=smtp.from_email, from_name=from_name,
                                   message_id=message_id_for(ctx.idempotency_key)),
                     list(dict.fromkeys([*config.to, *config.cc, *config.bcc])))]

    def deliver() -> dict[str, Any]:
        client = open_smtp(smtp, str(ips[0]), config.timeout_s)
        refused: dict[str, Any] = {}
        try:
            for msg, recipients in outgoing:
                refused.update(client.send_message(msg, from_addr=smtp.from_email, to_addrs=recipients))
        except Exception as exc:
            raise classify(exc, where) from None
        finally:
            close_quietly(client)
        return {code_addr: code for code_addr, (code, _m) in refused.items()}

    refused = await asyncio.to_thread(deliver)
    recipients = [r for _msg, rs in outgoing for r in rs]
    out = {
        "message_id": outgoing[0][0]["Message-ID"],
        "from": formataddr((from_name or "", smtp.from_email)),
        "to": [r for r in config.to if r not in {s["to"] for s in skipped}],
        "cc": config.cc,
        "bcc_count": len(config.bcc),
        "subject": config.subject,
        "accepted_count": len([r for r in recipients if r not in refused]),
        "refused": refused,
        "purpose": config.purpose,
    }
    if skipped:
        out["skipped_recipients"] = skipped
    return out
