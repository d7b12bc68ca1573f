"""Deliver a built message: SMTP from FLOWMATE_SMTP_URL, or the local outbox folder.

``smtp://user:pass@host:587`` upgrades with STARTTLS whenever the server offers it (add
``?starttls=required`` to refuse a server that does not); ``smtps://user:pass@host:465`` is TLS
from the first byte. Certificates are always verified. User name and password may be
percent-encoded. The relay is the operator's own choice, so it is not subject to the outbound
address policy that protects workflow steps.

Failures are classified like the ``email.send`` step: 4xx answers and network errors are
retryable, 5xx, authentication and TLS failures are permanent.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import structlog

from engine.actions._smtp import classify, close_quietly
from engine.config import Settings
from engine.errors import PermanentError

log = structlog.get_logger("flowmate.mail")
TIMEOUT_S = 20.0


@dataclass(frozen=True)
class SmtpTarget:
    scheme: str  # "smtp" | "smtps"
    host: str
    port: int
    username: str | None
    password: str | None
    starttls_required: bool

    @property
    def label(self) -> str:
        """Where mail went, without credentials (for logs and the outbox row)."""
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse and check FLOWMATE_SMTP_URL; errors never echo the password."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise PermanentError("FLOWMATE_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise PermanentError("FLOWMATE_SMTP_URL has no host")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError:
        raise PermanentError("FLOWMATE_SMTP_URL has an invalid port") from None
    query = parse_qs(parts.query)
    return SmtpTarget(
        scheme=parts.scheme, host=parts.hostname, port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        starttls_required=query.get("starttls", [""])[0].lower() == "required",
    )


def send_smtp(target: SmtpTarget, msg: EmailMessage) -> None:
    """Connect, secure, log in and send; raises Retryable/PermanentError."""
    context = ssl.create_default_context()
    client: smtplib.SMTP | None = None
    where = f"SMTP {target.host}:{target.port}"
    try:
        if target.scheme == "smtps":
            client = smtplib.SMTP_SSL(target.host, target.port, timeout=TIMEOUT_S, context=context)
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=TIMEOUT_S)
        client.ehlo()
        if target.scheme == "smtp":
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif target.starttls_required:
                raise PermanentError(f"{where}: the server does not offer STARTTLS (starttls=required)")
        if target.username:
            client.login(target.username, target.password or "")
        sender = parseaddr(str(msg["From"]))[1]
        client.send_message(msg, from_addr=sender, to_addrs=[parseaddr(str(msg["To"]))[1]])
    except Exception as exc:
        raise classify(exc, where) from None
    finally:
        if client is not None:
            close_quietly(client)


def write_outbox(directory: str, msg: EmailMessage, mail_id: str) -> Path:
    """Development without SMTP: one ``.eml`` file per mail (open it in any mail client)."""
    folder = Path(directory).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{mail_id}.eml"
    path.write_bytes(bytes(msg))
    return path


def deliver(settings: Settings, msg: EmailMessage, mail_id: str) -> str:
    """Send ``msg`` the configured way; returns where it went (``smtp://host:port`` or a file path)."""
    if settings.smtp_url is None or not settings.smtp_url.get_secret_value().strip():
        path = write_outbox(settings.mail_outbox_dir, msg, mail_id)
        log.info("mail.outbox_written", path=str(path), to=str(msg["To"]),
                 hint="FLOWMATE_SMTP_URL is not set: system mail is written to this folder")
        return str(path)
    target = parse_smtp_url(settings.smtp_url.get_secret_value())
    send_smtp(target, msg)
    log.info("mail.sent", via=target.label, to=str(msg["To"]))
    return target.label
