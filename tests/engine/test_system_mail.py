"""System mail: queued in the caller's transaction, delivered by the background job through a real
SMTP server (aiosmtpd) with credentials, smtp:// and smtps://, retried after a 4xx, or written to
the outbox folder when no SMTP is configured."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mail_support import SMTP_USER, smtp_server, smtp_url
from sqlmodel import select
from support import wait_for

from engine.config import get_settings
from engine.db import session_scope
from engine.mail.templates import invitation
from engine.models import SystemMail
from engine.services import system_mail


def _queue(to: str = "ana@example.com", workspace: str | None = "Bondi Bakery") -> str:
    rendered = invitation(workspace=workspace or "-", inviter="Sam", role="editor",
                          link="http://localhost:3000/invite/abc", expires="8 Dec 2026")
    with session_scope() as session:
        return system_mail.queue_mail(session, to=to, kind="invitation", rendered=rendered,
                                      workspace_name=workspace).id


def _row(mail_id: str) -> SystemMail:
    with session_scope() as session:
        return session.get(SystemMail, mail_id)


def test_mail_reaches_smtp_with_credentials_plain_and_html(sqlite_db, monkeypatch, start_runtime) -> None:
    with smtp_server() as (sink, port):
        monkeypatch.setenv("FLOWMATE_SMTP_URL", smtp_url(port))
        monkeypatch.setenv("FLOWMATE_MAIL_FROM", "FlowMate <no-reply@flowmate.example>")
        get_settings.cache_clear()
        mail_id = _queue()
        # Queued, not sent: the request that queued it did not talk to SMTP.
        assert _row(mail_id).status == "queued" and sink.attempts == 0
        runtime = start_runtime(threads=2)
        try:
            wait_for(lambda: sink.messages)
        finally:
            runtime.stop()
    msg = sink.messages[0].message
    assert sink.logins == [SMTP_USER]
    assert sink.messages[0].rcpt_tos == ["ana@example.com"]
    assert msg["From"] == "FlowMate <no-reply@flowmate.example>"
    assert msg["Subject"] == "Sam invited you to Bondi Bakery on FlowMate"
    assert msg.get_content_type() == "multipart/alternative"
    assert "http://localhost:3000/invite/abc" in msg.get_body(("plain",)).get_content()
    assert 'href="http://localhost:3000/invite/abc"' in msg.get_body(("html",)).get_content()
    row = wait_for(lambda: (r := _row(mail_id)).status == "sent" and r)
    assert row.body_encrypted == "" and row.delivered_to == f"smtp://127.0.0.1:{port}"


def test_rollback_sends_nothing(sqlite_db, monkeypatch) -> None:
    rendered = invitation(workspace="W", inviter="Sam", role="viewer", link="http://x/invite/1", expires="soon")
    with pytest.raises(RuntimeError), session_scope() as session:
        system_mail.queue_mail(session, to="x@example.com", kind="invitation", rendered=rendered)
        raise RuntimeError("the invitation failed after the mail was queued")
    with session_scope() as session:
        assert session.exec(select(SystemMail)).all() == []


def test_temporary_failure_is_retried_with_the_same_message_id(sqlite_db, monkeypatch, start_runtime) -> None:
    monkeypatch.setattr(system_mail, "retry_delay_s", lambda attempt: 0.2)
    with smtp_server() as (sink, port):
        sink.fail_next = 2
        monkeypatch.setenv("FLOWMATE_SMTP_URL", smtp_url(port))
        get_settings.cache_clear()
        mail_id = _queue()
        runtime = start_runtime(threads=2)
        try:
            wait_for(lambda: sink.messages)
            row = wait_for(lambda: (r := _row(mail_id)).status == "sent" and r)
        finally:
            runtime.stop()
    assert sink.attempts == 3 and row.attempts == 3 and len(sink.messages) == 1


def test_wrong_password_is_permanent_and_never_logged(sqlite_db, monkeypatch, capsys) -> None:
    with smtp_server() as (sink, port):
        monkeypatch.setenv("FLOWMATE_SMTP_URL", f"smtp://{SMTP_USER}:not-the-password@127.0.0.1:{port}")
        get_settings.cache_clear()
        mail_id = _queue()
        assert system_mail.deliver_queued(mail_id) is None
    row = _row(mail_id)
    assert row.status == "failed" and "authentication failed" in row.last_error
    assert "not-the-password" not in row.last_error + capsys.readouterr().err
    assert sink.messages == []


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    import ipaddress

    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_path, key_path)
    return server_ctx, cert_path


def test_smtps_verifies_the_certificate(sqlite_db, monkeypatch, tmp_path) -> None:
    server_ctx, ca = _self_signed(tmp_path)
    with smtp_server(implicit_tls=server_ctx) as (sink, port):
        monkeypatch.setenv("FLOWMATE_SMTP_URL", smtp_url(port, "smtps"))
        get_settings.cache_clear()
        untrusted = _queue()
        system_mail.deliver_queued(untrusted)
        assert _row(untrusted).status == "failed" and "certificate" in _row(untrusted).last_error
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # now the server's certificate is trusted
        trusted = _queue()
        system_mail.deliver_queued(trusted)
    assert _row(trusted).status == "sent" and len(sink.messages) == 1 and sink.logins == [SMTP_USER]


def test_without_smtp_the_mail_lands_in_the_outbox_folder(sqlite_db, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.delenv("FLOWMATE_SMTP_URL", raising=False)
    monkeypatch.setenv("FLOWMATE_MAIL_OUTBOX_DIR", str(tmp_path / "outbox"))
    get_settings.cache_clear()
    mail_id = _queue(to="dev@example.com")
    system_mail.deliver_queued(mail_id)
    path = tmp_path / "outbox" / f"{mail_id}.eml"
    assert path.exists() and b"dev@example.com" in path.read_bytes()
    assert _row(mail_id).delivered_to == str(path)
    captured = capsys.readouterr()
    assert str(path) in captured.out + captured.err  # the log says where (stderr once logging is configured)


def test_cli_lists_mail_status_without_bodies_and_requeues(sqlite_db, monkeypatch, tmp_path, capsys) -> None:
    import json

    from engine.cli import main

    monkeypatch.setenv("FLOWMATE_MAIL_OUTBOX_DIR", str(tmp_path / "outbox"))
    get_settings.cache_clear()
    mail_id = _queue(to="ops@example.com")
    capsys.readouterr()
    def printed() -> dict:
        out = capsys.readouterr().out  # log lines may come first: the document starts at a lone "{"
        return json.loads(out[out.index("{\n"):])

    assert main(["mail", "list"]) == 0
    listed = printed()["items"]
    assert listed[0]["id"] == mail_id and listed[0]["status"] == "queued"
    assert "invite/abc" not in json.dumps(listed)  # the link (a credential) is never printed
    assert main(["mail", "requeue"]) == 0
    assert printed() == {"requeued": 1}
