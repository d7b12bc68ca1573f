"""A real SMTP server for tests (aiosmtpd on 127.0.0.1) that keeps what it receives.

``sink.fail_next`` makes the next N deliveries answer a temporary ``451`` (to prove retries);
``links(message)`` pulls the http(s) links out of a message's plain-text body.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "mailer"
SMTP_PASSWORD = "s3cret-relay-pass"
LINK_RE = re.compile(r"https?://\S+")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


class MailSink:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.logins: list[str] = []
        self.fail_next = 0
        self.attempts = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.attempts += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return "451 4.3.0 try again later"
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m.message for m in self.messages if address in m.rcpt_tos]


def _authenticator(sink: MailSink) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER \
                and auth_data.password.decode() == SMTP_PASSWORD:
            sink.logins.append(SMTP_USER)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return check


@contextmanager
def smtp_server(*, implicit_tls: Any = None) -> Iterator[tuple[MailSink, int]]:
    """An SMTP server that requires AUTH (plain, or TLS from the first byte with ``implicit_tls``)."""
    sink = MailSink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kwargs: dict[str, Any] = {"authenticator": _authenticator(sink), "auth_required": True,
                              "auth_require_tls": False}
    if implicit_tls is not None:
        kwargs["ssl_context"] = implicit_tls
    controller = Controller(sink, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def smtp_url(port: int, scheme: str = "smtp") -> str:
    return f"{scheme}://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{port}"


def links(message: EmailMessage) -> list[str]:
    return LINK_RE.findall(message.get_body(("plain",)).get_content())
