"""email.send against a real aiosmtpd server: headers, bodies, envelope, TLS, auth, error classes."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fake_providers import SMTP_PASSWORD, SMTP_USER, running_smtp
from integ_helpers import one_step_workflow, run_now

from engine.actions.email_send import Config, message_id_for
from engine.actions.email_send import run as send_email
from engine.config import Settings
from engine.context import ActionContext, ConnectionData
from engine.errors import PermanentError, RetryableError
from engine.outbound import OutboundRefused

ALLOW = Settings(outbound_allow=["127.0.0.0/8"])


def _conn(port: int, **config: Any) -> ConnectionData:
    base = {"host": "127.0.0.1", "port": port, "security": "none", "username": SMTP_USER,
            "from_email": "hello@harbour.example", "from_name": "Harbour Plumbing"}
    return ConnectionData(id="c1", type="smtp", name="smtp", config={**base, **config},
                          secret={"password": SMTP_PASSWORD})


def _ctx(conn: ConnectionData, settings: Settings = ALLOW, run_id: str = "run1") -> ActionContext:
    return ActionContext(run_id=run_id, step_key="welcome", workflow_id="wf", workspace_id="ws", settings=settings,
                         connection_loader=lambda ref: conn)


def test_email_through_the_executor_reaches_smtp_with_all_headers(connected: dict[str, Any]) -> None:
    ws = connected["workspace"]["id"]
    wf = one_step_workflow(ws, "email.send", {
        "connection": "smtp",
        "to": "{{ trigger.payload.email }}",
        "cc": ["office@harbour.example"],
        "bcc": "archive@harbour.example",
        "reply_to": "bookings@harbour.example",
        "subject": "Hi {{ trigger.payload.name }} – your quote",
        "text": "Hello {{ trigger.payload.name }}, plain version.",
        "html": "<p>Hello <b>{{ trigger.payload.name | e }}</b>, HTML version.</p>",
    }, key="welcome")
    run = run_now(wf, ws, "manual", {"payload": {"email": "mia@example.com", "name": "Mia"}})
    assert run["status"] == "succeeded", run

    sink = connected["smtp"]
    assert len(sink.messages) == 1
    received = sink.messages[0]
    msg = received.message
    assert msg["Message-ID"] == message_id_for(f"{run['id']}:welcome")
    assert msg["Message-ID"].endswith("@flowmate>")
    assert msg["From"] == "Harbour Plumbing <hello@harbour.example>"
    assert msg["To"] == "mia@example.com"
    assert msg["Cc"] == "office@harbour.example"
    assert msg["Reply-To"] == "bookings@harbour.example"
    assert msg["Subject"] == "Hi Mia – your quote"
    assert msg["Bcc"] is None  # hidden recipients only travel in the envelope
    assert sorted(received.rcpt_tos) == ["archive@harbour.example", "mia@example.com", "office@harbour.example"]
    assert received.mail_from == "hello@harbour.example"
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content().strip() == "Hello Mia, plain version."
    assert msg.get_body(("html",)).get_content().strip() == "<p>Hello <b>Mia</b>, HTML version.</p>"
    assert sink.logins == [SMTP_USER]

    output = run["steps"][0]["output"]
    assert output["message_id"] == msg["Message-ID"]
    assert output["bcc_count"] == 1 and "archive@harbour.example" not in str(output)


def test_retry_sends_the_same_message_id() -> None:
    with running_smtp() as (sink, port):
        conn = _conn(port)
        config = Config(connection="smtp", to=["a@example.com"], subject="s", text="t")
        asyncio.run(send_email(_ctx(conn), config))
        asyncio.run(send_email(_ctx(conn), config))
        asyncio.run(send_email(_ctx(conn, run_id="run2"), config))
    ids = [m.message["Message-ID"] for m in sink.messages]
    assert ids[0] == ids[1] != ids[2]


def test_html_only_and_text_only_bodies() -> None:
    with running_smtp() as (sink, port):
        conn = _conn(port)
        asyncio.run(send_email(_ctx(conn), Config(connection="smtp", to=["a@example.com"], subject="s",
                                                  html="<p>only html</p>")))
        asyncio.run(send_email(_ctx(conn), Config(connection="smtp", to=["a@example.com"], subject="s",
                                                  text="only text")))
    assert sink.messages[0].message.get_content_type() == "text/html"
    assert sink.messages[1].message.get_content_type() == "text/plain"


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="not a valid email"):
        Config(connection="smtp", to="not-an-address", subject="s", text="t")
    with pytest.raises(ValueError, match="text body, an HTML body"):
        Config(connection="smtp", to="a@example.com", subject="s")
    assert Config(connection="smtp", to="a@example.com; b@example.com", subject="s\r\nBcc: x", text="t").subject \
        == "s Bcc: x"
    schema = Config.model_json_schema()
    assert schema["properties"]["to"]["title"] == "To" and schema["properties"]["to"]["examples"]


def test_wrong_password_is_permanent_and_never_shown() -> None:
    with running_smtp() as (_sink, port):
        conn = ConnectionData(id="c", type="smtp", name="smtp", config=_conn(port).config,
                              secret={"password": "wrong-S3CR3T-password"})
        with pytest.raises(PermanentError) as err:
            asyncio.run(send_email(_ctx(conn), Config(connection="smtp", to=["a@example.com"], subject="s",
                                                      text="t")))
    assert "authentication failed" in str(err.value)
    assert "wrong-S3CR3T-password" not in str(err.value)


def test_recipient_refusals_map_to_retryable_or_permanent() -> None:
    with running_smtp() as (sink, port):
        sink.refuse["gone@example.com"] = "550 5.1.1 mailbox unavailable"
        sink.refuse["busy@example.com"] = "451 4.3.0 try again later"
        conn = _conn(port)
        with pytest.raises(PermanentError, match="refused"):
            asyncio.run(send_email(_ctx(conn), Config(connection="smtp", to=["gone@example.com"], subject="s",
                                                      text="t")))
        with pytest.raises(RetryableError, match="temporarily"):
            asyncio.run(send_email(_ctx(conn), Config(connection="smtp", to=["busy@example.com"], subject="s",
                                                      text="t")))
        # One good recipient among refused ones: sent, and the refusal is reported in the output.
        out = asyncio.run(send_email(_ctx(conn), Config(connection="smtp", to=["ok@example.com", "gone@example.com"],
                                                        subject="s", text="t")))
    assert out["accepted_count"] == 1 and out["refused"] == {"gone@example.com": 550}


def test_smtp_host_must_pass_the_outbound_guard() -> None:
    with running_smtp() as (sink, port), pytest.raises(OutboundRefused, match="loopback"):
        asyncio.run(send_email(_ctx(_conn(port), settings=Settings(outbound_allow=[])),
                               Config(connection="smtp", to=["a@example.com"], subject="s", text="t")))
    assert sink.messages == []


def test_nothing_listening_is_retryable() -> None:
    with running_smtp() as (_sink, port):
        pass
    with pytest.raises(RetryableError):
        asyncio.run(send_email(_ctx(_conn(port)), Config(connection="smtp", to=["a@example.com"], subject="s",
                                                         text="t", timeout_s=3)))


def _self_signed(tmp_path: Any) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_starttls_with_auth(tmp_path: Any) -> None:
    with running_smtp(tls_context=_self_signed(tmp_path)) as (sink, port):
        # The certificate is self-signed: verification fails closed unless the connection opts out.
        with pytest.raises(PermanentError, match="certificate"):
            asyncio.run(send_email(_ctx(_conn(port, security="starttls")),
                                   Config(connection="smtp", to=["a@example.com"], subject="s", text="t")))
        # Plain "none" cannot log in on a server that requires STARTTLS first.
        with pytest.raises(PermanentError):
            asyncio.run(send_email(_ctx(_conn(port, security="none")),
                                   Config(connection="smtp", to=["a@example.com"], subject="s", text="t")))
        asyncio.run(send_email(_ctx(_conn(port, security="starttls", verify_tls="false")),
                               Config(connection="smtp", to=["a@example.com"], subject="tls", text="t")))
    assert [m.message["Subject"] for m in sink.messages] == ["tls"]
    assert sink.logins == [SMTP_USER]


def test_implicit_tls(tmp_path: Any) -> None:
    with running_smtp(implicit_tls=_self_signed(tmp_path)) as (sink, port):
        with pytest.raises(PermanentError, match="certificate"):
            asyncio.run(send_email(_ctx(_conn(port, security="ssl")),
                                   Config(connection="smtp", to=["a@example.com"], subject="s", text="t")))
        asyncio.run(send_email(_ctx(_conn(port, security="ssl", verify_tls="false")),
                               Config(connection="smtp", to=["a@example.com"], subject="over ssl", text="t")))
    assert [m.message["Subject"] for m in sink.messages] == ["over ssl"]
