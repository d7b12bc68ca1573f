"""Small local implementations of the provider endpoints FlowMate calls, plus a real SMTP server.

* Twilio: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form, Basic sid:token) and
  ``GET /2010-04-01/Accounts/{sid}.json``;
* ClickSend: ``POST /v3/sms/send`` (JSON, Basic username:api_key) and ``GET /v3/account``;
* HubSpot: ``POST /crm/v3/objects/contacts/search``, ``POST /crm/v3/objects/contacts``,
  ``PATCH /crm/v3/objects/contacts/{id}``, ``GET /crm/v3/objects/contacts`` (Bearer token),
  with an in-memory contact store;
* Slack incoming webhook: ``POST /services/{T}/{B}/{secret}`` answering ``ok`` / ``no_text``;
* "your own API": ``GET /reports/daily``, ``GET /reports/weekly``, ``POST /leads``, ``POST /invoices``.

Each provider checks credentials like the real one (401 otherwise) and records every request,
so tests assert on what FlowMate really sent. ``fail_next`` makes a path answer an error once.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "twilio-token-S3CR3T-a1b2c3d4"
CLICKSEND_USER = "harbour-dental"
CLICKSEND_KEY = "clicksend-key-S3CR3T-e5f6a7b8"
HUBSPOT_TOKEN = "pat-na1-hubspot-S3CR3T-c9d0e1f2"
SLACK_PATH = "/services/T00FLOW/B00MATE/slackS3CR3Tpath9g8h7"
API_TOKEN = "api-bearer-S3CR3T-i6j5k4l3"
SIGNING_SECRET = "signing-S3CR3T-m2n1o0p9"
SMTP_USER = "mailer@example.com.au"
SMTP_PASSWORD = "smtp-pass-S3CR3T-q8r7s6t5"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


@dataclass
class Reply:
    status: int
    body: Any
    content_type: str = "application/json"


@dataclass
class FakeProviders:
    """One HTTP server playing every provider (each on its own path prefix)."""

    requests: list[Recorded] = field(default_factory=list)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: dict[str, Reply] = field(default_factory=dict)
    reports: dict[str, Any] = field(default_factory=lambda: {
        "/reports/daily": {"sales_total": "1,234.50", "new_leads": 7, "bookings": 12},
        "/reports/weekly": {"sales_total": "8,020.00", "new_leads": 41, "bookings": 77},
    })
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 1000

    def to(self, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    # -- routing -----------------------------------------------------------------------------

    def handle(self, req: Recorded) -> Reply:
        with self._lock:
            self.requests.append(req)
            for prefix, reply in list(self.fail_next.items()):
                if req.path.startswith(prefix):
                    del self.fail_next[prefix]
                    return reply
        path = req.path
        if path.startswith("/2010-04-01/"):
            return self._twilio(req)
        if path.startswith("/v3/"):
            return self._clicksend(req)
        if path.startswith("/crm/v3/"):
            return self._hubspot(req)
        if path.startswith("/services/"):
            return self._slack(req)
        if path.startswith("/reports/") or path in ("/leads", "/invoices") or path == "/":
            return self._api(req)
        return Reply(404, {"message": "not found"})

    def _twilio(self, req: Recorded) -> Reply:
        if req.basic_auth() != (TWILIO_SID, TWILIO_TOKEN):
            return Reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if req.method == "GET" and req.path == f"/2010-04-01/Accounts/{TWILIO_SID}.json":
            return Reply(200, {"sid": TWILIO_SID, "friendly_name": "Harbour Dental", "status": "active"})
        if req.method == "POST" and req.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
            form = req.form
            if not form.get("To", "").startswith("+"):
                return Reply(400, {"code": 21211, "message": f"The 'To' number {form.get('To')} is not a valid "
                                   "phone number.", "status": 400})
            return Reply(201, {"sid": f"SM{len(self.requests):032d}", "status": "queued", "to": form["To"],
                               "from": form.get("From"), "body": form.get("Body"), "num_segments": "1"})
        return Reply(404, {"code": 20404, "message": "not found", "status": 404})

    def _clicksend(self, req: Recorded) -> Reply:
        if req.basic_auth() != (CLICKSEND_USER, CLICKSEND_KEY):
            return Reply(401, {"http_code": 401, "response_code": "UNAUTHORIZED",
                               "response_msg": "Invalid username or api key"})
        if req.method == "GET" and req.path == "/v3/account":
            return Reply(200, {"http_code": 200, "response_code": "SUCCESS", "data": {"balance": "42.10"}})
        if req.method == "POST" and req.path == "/v3/sms/send":
            messages = req.json["messages"]
            out = [{"to": m["to"], "body": m["body"], "message_id": f"CS-{i}", "status": "SUCCESS",
                    "message_parts": 1, "custom_string": m.get("custom_string")} for i, m in enumerate(messages)]
            return Reply(200, {"http_code": 200, "response_code": "SUCCESS", "response_msg": "Messages queued",
                               "data": {"messages": out}})
        return Reply(404, {"http_code": 404, "response_code": "NOT_FOUND", "response_msg": "not found"})

    def _hubspot(self, req: Recorded) -> Reply:
        if req.headers.get("authorization") != f"Bearer {HUBSPOT_TOKEN}":
            return Reply(401, {"status": "error", "message": "Authentication credentials not found.",
                               "category": "INVALID_AUTHENTICATION"})
        base = "/crm/v3/objects/contacts"
        with self._lock:
            if req.method == "GET" and req.path == base:
                return Reply(200, {"results": list(self.contacts.values())[:1]})
            if req.method == "POST" and req.path == f"{base}/search":
                email = req.json["filterGroups"][0]["filters"][0]["value"]
                found = [c for c in self.contacts.values() if c["properties"].get("email") == email]
                return Reply(200, {"total": len(found), "results": found[:1]})
            if req.method == "POST" and req.path == base:
                props = req.json["properties"]
                existing = [c for c in self.contacts.values() if c["properties"]["email"] == props["email"]]
                if existing:
                    return Reply(409, {"status": "error", "category": "CONFLICT",
                                       "message": f"Contact already exists. Existing ID: {existing[0]['id']}"})
                self._next_id += 1
                contact = {"id": str(self._next_id), "properties": dict(props)}
                self.contacts[contact["id"]] = contact
                return Reply(201, contact)
            if req.method == "PATCH" and req.path.startswith(f"{base}/"):
                contact = self.contacts.get(req.path.rsplit("/", 1)[1])
                if contact is None:
                    return Reply(404, {"status": "error", "message": "resource not found"})
                contact["properties"].update(req.json["properties"])
                return Reply(200, contact)
        return Reply(404, {"status": "error", "message": "not found"})

    def _slack(self, req: Recorded) -> Reply:
        if req.path != SLACK_PATH:
            return Reply(404, "no_service", "text/html")
        if req.method != "POST":
            return Reply(405, "invalid_method", "text/html")
        try:
            payload = req.json
        except ValueError:
            return Reply(400, "invalid_payload", "text/html")
        if not payload.get("text") and not payload.get("blocks"):
            return Reply(400, "no_text", "text/html")
        return Reply(200, "ok", "text/html")

    def _api(self, req: Recorded) -> Reply:
        if req.headers.get("authorization") != f"Bearer {API_TOKEN}":
            return Reply(401, {"error": "unauthorised"})
        if req.method == "GET" and req.path == "/":
            return Reply(200, {"ok": True})
        if req.method == "GET" and req.path in self.reports:
            return Reply(200, self.reports[req.path])
        if req.method == "POST" and req.path == "/leads":
            return Reply(201, {"received": True})
        if req.method == "POST" and req.path == "/invoices":
            return Reply(201, {"invoice_id": "INV-" + str(json.loads(req.body).get("quote_number", ""))})
        return Reply(404, {"error": "not found"})


def _serve(providers: FakeProviders) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            req = Recorded(self.command, parts.path, parse_qs(parts.query),
                           {k.lower(): v for k, v in self.headers.items()}, body)
            reply = providers.handle(req)
            data = (reply.body if isinstance(reply.body, str) else json.dumps(reply.body)).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd


@contextmanager
def running_providers() -> Iterator[FakeProviders]:
    providers = FakeProviders()
    httpd = _serve(providers)
    providers.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield providers
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- SMTP ----------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


class MailSink:
    """aiosmtpd handler: keeps every message; ``refuse`` maps a recipient to an SMTP reply."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.refuse: dict[str, str] = {}
        self.logins: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                      or envelope.content))
        return "250 Message accepted for delivery"


def _authenticator(sink: MailSink) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER \
                and auth_data.password.decode() == SMTP_PASSWORD:
            sink.logins.append(SMTP_USER)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return check


@contextmanager
def running_smtp(*, tls_context: Any = None, implicit_tls: Any = None,
                 require_auth: bool = True) -> Iterator[tuple[MailSink, int]]:
    """A real SMTP server on 127.0.0.1 (optionally STARTTLS or implicit TLS) that requires AUTH."""
    sink = MailSink()
    kwargs: dict[str, Any] = {"authenticator": _authenticator(sink), "auth_require_tls": tls_context is not None,
                              "auth_required": require_auth}
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=True)
    if implicit_tls is not None:
        kwargs.update(ssl_context=implicit_tls)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()
