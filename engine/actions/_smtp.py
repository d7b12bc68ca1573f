"""SMTP plumbing shared by ``email.send`` and the connection test.

The SMTP host passes the same address check as HTTP calls: we resolve it once with
:func:`engine.outbound.resolve_allowed` and then dial exactly the validated IP, while TLS still
verifies the certificate against the configured host name (so DNS rebinding cannot move the
connection to a private address, and STARTTLS/SSL keep their protection). smtplib is blocking,
so callers run :func:`open_smtp` and the sending in a worker thread.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Literal

from engine.context import ConnectionData
from engine.errors import PermanentError, RetryableError

Security = Literal["starttls", "ssl", "none"]
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass(frozen=True)
class SmtpSettings:
    """The non-secret part of an smtp connection, validated, plus the password in memory."""

    host: str
    port: int
    security: Security
    username: str | None
    password: str | None
    from_email: str
    from_name: str | None
    verify_tls: bool = True


def smtp_settings(conn: ConnectionData) -> SmtpSettings:
    """Read and check an smtp connection; errors name fields, never values of secrets."""
    if conn.type != "smtp":
        raise PermanentError(f"connection {conn.name!r} has type {conn.type!r}, expected 'smtp'")
    cfg = conn.config
    security = str(cfg.get("security") or "starttls").lower()
    if security not in DEFAULT_PORTS:
        raise PermanentError(f"connection {conn.name!r}: security must be starttls, ssl or none")
    try:
        port = int(cfg.get("port") or DEFAULT_PORTS[security])
    except (TypeError, ValueError):
        raise PermanentError(f"connection {conn.name!r}: port must be a number") from None
    if not 0 < port < 65536:
        raise PermanentError(f"connection {conn.name!r}: port must be between 1 and 65535")
    host = str(cfg.get("host") or "").strip()
    if not host:
        raise PermanentError(f"connection {conn.name!r} has no host")
    from_email = str(cfg.get("from_email") or "").strip()
    if not from_email:
        raise PermanentError(f"connection {conn.name!r} has no from_email")
    password = conn.secret.get("password")
    return SmtpSettings(
        host=host, port=port, security=security,  # type: ignore[arg-type]
        username=(str(cfg.get("username")).strip() or None) if cfg.get("username") else None,
        password=str(password) if password else None,
        from_email=from_email, from_name=(str(cfg.get("from_name")).strip() or None) if cfg.get("from_name") else None,
        verify_tls=str(cfg.get("verify_tls", "true")).lower() not in ("false", "0", "no"),
    )


def _tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:  # only for self-signed test relays; opt-in per connection
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _PinnedSMTP(smtplib.SMTP):
    """smtplib.SMTP that dials a pre-validated IP but keeps the host name for EHLO/TLS."""

    def __init__(self, pinned_ip: str, **kwargs: Any) -> None:
        self._pinned_ip = pinned_ip
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:  # type: ignore[override]
        self._host = host  # smtplib only sets it in __init__; STARTTLS uses it for SNI and the cert check
        return socket.create_connection((self._pinned_ip, port), timeout, self.source_address)


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    """Implicit-TLS variant: TCP to the validated IP, certificate checked for the host name."""

    def __init__(self, pinned_ip: str, **kwargs: Any) -> None:
        self._pinned_ip = pinned_ip
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:  # type: ignore[override]
        self._host = host
        raw = socket.create_connection((self._pinned_ip, port), timeout, self.source_address)
        return self.context.wrap_socket(raw, server_hostname=host)


def open_smtp(cfg: SmtpSettings, pinned_ip: str, timeout: float) -> smtplib.SMTP:
    """Connect, secure and log in. Raises StepErrors classified for the retry policy."""
    context = _tls_context(cfg.verify_tls)
    client: smtplib.SMTP | None = None
    try:
        if cfg.security == "ssl":
            client = _PinnedSMTPSSL(pinned_ip, timeout=timeout, context=context)
        else:
            client = _PinnedSMTP(pinned_ip, timeout=timeout)
        client.connect(cfg.host, cfg.port)
        client.ehlo()
        if cfg.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if cfg.username:
            client.login(cfg.username, cfg.password or "")
        return client
    except Exception as exc:
        if client is not None:
            client.close()
        raise classify(exc, f"SMTP {cfg.host}:{cfg.port}") from None


def classify(exc: Exception, where: str) -> Exception:
    """Map an smtplib/socket/ssl failure to Retryable (4xx, network) or Permanent (5xx, auth, TLS)."""
    if isinstance(exc, PermanentError | RetryableError):
        return exc
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return PermanentError(f"{where}: authentication failed (check the username and password) [{exc.smtp_code}]")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError(f"{where}: the server does not support this ({exc}); check the security setting")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _msg in exc.recipients.values()})
        refused = ", ".join(sorted(exc.recipients))
        if codes and all(400 <= code < 500 for code in codes):
            return RetryableError(f"{where}: recipients temporarily refused: {refused}")
        return PermanentError(f"{where}: recipients refused: {refused}")
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        message = f"{where}: server answered {exc.smtp_code} {' '.join(text.split())[:200]}"
        return RetryableError(message) if 400 <= exc.smtp_code < 500 else PermanentError(message)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError(f"{where}: TLS certificate check failed ({exc.verify_message})")
    if isinstance(exc, ssl.SSLError):
        return PermanentError(f"{where}: TLS failed ({exc.reason}); check the security setting and port")
    if isinstance(exc, smtplib.SMTPServerDisconnected | TimeoutError | ConnectionError | OSError):
        return RetryableError(f"{where}: {type(exc).__name__}: {exc}")
    if isinstance(exc, smtplib.SMTPException):
        return RetryableError(f"{where}: {type(exc).__name__}: {exc}")
    return exc


def close_quietly(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
