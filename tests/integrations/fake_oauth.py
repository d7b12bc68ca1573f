"""A local OAuth 2.0 authorization server plus the Xero and Google Sheets APIs that trust it.

Real HTTP on 127.0.0.1, speaking the providers' shapes:

* ``GET /authorize`` (consent page with an Allow button, like Xero's) → ``POST /authorize``
  redirects to ``redirect_uri?code=&state=``; ``POST /token`` redeems a code (client auth by
  Basic or form, the redirect URI must match, and the PKCE S256 verifier must hash to the
  challenge) or a refresh token. Refresh tokens rotate and are single-use: presenting a used one
  revokes the whole grant, as Xero does;
* Xero: ``GET /connections`` (tenants) and ``/api.xro/2.0/`` Contacts, Invoices (+ ``/Email``),
  Payments, with ``xero-tenant-id`` checked, GST computed per AU tax type, ValidationException
  bodies, and 429 + ``Retry-After`` on demand;
* Google Sheets v4: ``values.get``, ``values:append``, ``values.update`` on in-memory sheets.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

CLIENT_ID = "FLOWMATE-TEST-CLIENT"
CLIENT_SECRET = "oauth-client-S3CR3T-z9y8x7"
TENANT_A = "70784a63-d24b-46a9-a4db-0e70a274b056"
TENANT_B = "a3d4e5f6-1111-4abc-9def-222233334444"
TAX_RATES = {"OUTPUT": 0.10, "EXEMPTOUTPUT": 0.0, "INPUT": 0.10, "EXEMPTEXPENSES": 0.0, "BASEXCLUDED": 0.0,
             "GSTONIMPORTS": 0.0}


@dataclass
class Req:
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

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Resp:
    status: int
    body: Any = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _xero_validation(message: str) -> Resp:
    return Resp(400, {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
                      "Elements": [{"ValidationErrors": [{"Message": message}]}]})


@dataclass
class FakeOAuth:
    """Authorization server + resource servers sharing one token table."""

    url: str = ""
    access_ttl_s: int = 1800
    requests: list[Req] = field(default_factory=list)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access: dict[str, float] = field(default_factory=dict)  # token -> expires at
    refresh: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> {"used": bool, "grant": id}
    revoked_grants: set[str] = field(default_factory=set)
    refresh_calls: int = 0
    refresh_delay_s: float = 0.0
    pkce_failures: int = 0
    tenants: list[dict[str, str]] = field(default_factory=lambda: [
        {"id": "c1", "tenantId": TENANT_A, "tenantType": "ORGANISATION", "tenantName": "Harbour Bakery Pty Ltd"}])
    rate_limit_next: list[int] = field(default_factory=list)  # Retry-After seconds for the next API calls
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: list[dict[str, Any]] = field(default_factory=list)
    emailed: list[str] = field(default_factory=list)
    sheets: dict[str, dict[str, list[list[str]]]] = field(default_factory=dict)  # spreadsheet -> tab -> rows
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def to(self, prefix: str) -> list[Req]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def expire_all_access_tokens(self) -> None:
        with self._lock:
            for token in self.access:
                self.access[token] = 0

    # -- routing ------------------------------------------------------------------------------

    def handle(self, req: Req) -> Resp:
        with self._lock:
            self.requests.append(req)
        if req.path == "/authorize":
            return self._authorize(req)
        if req.path == "/token":
            return self._token(req)
        if req.path == "/connections" or req.path.startswith("/api.xro/") or req.path.startswith("/v4/"):
            token = req.headers.get("authorization", "")[7:]
            with self._lock:
                alive = self.access.get(token, 0) > time.time()
            if not req.headers.get("authorization", "").startswith("Bearer ") or not alive:
                if req.path.startswith("/v4/"):
                    return Resp(401, {"error": {"code": 401, "message": "Request had invalid authentication "
                                                "credentials.", "status": "UNAUTHENTICATED"}})
                return Resp(401, {"Type": None, "Title": "Unauthorized", "Status": 401,
                                  "Detail": "AuthenticationUnsuccessful"}, headers={"WWW-Authenticate": "Bearer"})
            if req.path == "/connections":
                return Resp(200, self.tenants)
            if req.path.startswith("/v4/"):
                return self._sheets(req)
            return self._xero(req)
        return Resp(404, {"error": "not found"})

    # -- authorization server -------------------------------------------------------------------

    def _authorize(self, req: Req) -> Resp:
        params = {k: v[0] for k, v in req.query.items()} if req.method == "GET" else req.form
        if params.get("client_id") != CLIENT_ID or params.get("response_type") != "code":
            return Resp(400, "<h1>unauthorized_client</h1>", "text/html")
        if req.method == "GET":
            hidden = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
                             for k, v in params.items())
            return Resp(200, f"<!doctype html><title>Log in to Xero</title><h1>Allow FlowMate to access "
                             f"your organisation?</h1><p>Scopes: {html.escape(params.get('scope', ''))}</p>"
                             f"<form method='post' action='/authorize'>{hidden}"
                             "<button id='allow' name='decision' value='allow'>Allow access</button>"
                             "<button id='deny' name='decision' value='deny'>Cancel</button></form>", "text/html")
        redirect = params["redirect_uri"]
        if params.get("decision") != "allow":
            denied = urlencode({"error": "access_denied", "state": params.get("state", "")})
            return Resp(302, headers={"Location": f"{redirect}?{denied}"})
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = {"redirect_uri": redirect, "challenge": params.get("code_challenge"),
                                "method": params.get("code_challenge_method"), "scope": params.get("scope", ""),
                                "used": False}
        return Resp(302, headers={"Location": f"{redirect}?{urlencode({'code': code, 'state': params['state']})}"})

    def issue_code(self, redirect_uri: str, challenge: str | None) -> str:
        """A code as if the person had clicked Allow (for tests that skip the browser)."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = {"redirect_uri": redirect_uri, "challenge": challenge, "method": "S256",
                                "scope": "offline_access", "used": False}
        return code

    def _client_ok(self, req: Req, form: dict[str, str]) -> bool:
        auth = req.headers.get("authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return (unquote(user), unquote(password)) == (CLIENT_ID, CLIENT_SECRET)
        return (form.get("client_id"), form.get("client_secret")) == (CLIENT_ID, CLIENT_SECRET)

    def _new_tokens(self, grant: str, scope: str) -> dict[str, Any]:
        access, refresh = "acc-" + secrets.token_urlsafe(24), "ref-" + secrets.token_urlsafe(24)
        self.access[access] = time.time() + self.access_ttl_s
        self.refresh[refresh] = {"used": False, "grant": grant}
        return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                "expires_in": self.access_ttl_s, "scope": scope}

    def _token(self, req: Req) -> Resp:
        form = req.form
        if req.method != "POST":
            return Resp(405, {"error": "invalid_request"})
        if not self._client_ok(req, form):
            return Resp(401, {"error": "invalid_client"})
        grant_type = form.get("grant_type")
        with self._lock:
            if grant_type == "authorization_code":
                entry = self.codes.get(form.get("code", ""))
                if entry is None or entry["used"] or entry["redirect_uri"] != form.get("redirect_uri"):
                    return Resp(400, {"error": "invalid_grant", "error_description": "bad code or redirect_uri"})
                entry["used"] = True
                if entry["challenge"]:
                    verifier = form.get("code_verifier", "")
                    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                    if entry["method"] != "S256" or digest.decode() != entry["challenge"]:
                        self.pkce_failures += 1
                        return Resp(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
                return Resp(200, self._new_tokens(secrets.token_hex(6), entry["scope"]))
            if grant_type == "refresh_token":
                time.sleep(self.refresh_delay_s)
                self.refresh_calls += 1
                entry = self.refresh.get(form.get("refresh_token", ""))
                if entry is None or entry["grant"] in self.revoked_grants:
                    return Resp(400, {"error": "invalid_grant"})
                if entry["used"]:  # reuse of a rotated refresh token: treat as theft, revoke the grant
                    self.revoked_grants.add(entry["grant"])
                    return Resp(400, {"error": "invalid_grant", "error_description": "refresh token reused"})
                entry["used"] = True
                return Resp(200, self._new_tokens(entry["grant"], "offline_access"))
        return Resp(400, {"error": "unsupported_grant_type"})

    # -- Xero Accounting API ------------------------------------------------------------------

    def _xero(self, req: Req) -> Resp:
        if req.headers.get("xero-tenant-id") not in {t["tenantId"] for t in self.tenants}:
            return Resp(403, {"Type": None, "Title": "Forbidden", "Status": 403,
                              "Detail": "AuthenticationUnsuccessful"})
        with self._lock:
            if self.rate_limit_next:
                wait = self.rate_limit_next.pop(0)
                return Resp(429, {"Title": "Too Many Requests"}, headers={"Retry-After": str(wait),
                                                                         "X-Rate-Limit-Problem": "minute"})
        path = req.path[len("/api.xro/2.0"):]
        envelope = {"Id": secrets.token_hex(8), "Status": "OK", "ProviderName": "FlowMate",
                    "DateTimeUTC": f"/Date({int(time.time() * 1000)})/"}
        with self._lock:
            if path == "/Contacts" and req.method == "GET":
                where = req.q("where") or ""
                match = re.fullmatch(r'(EmailAddress|Name)=="(.*)"', where)
                if where and not match:
                    return _xero_validation(f"Invalid where clause: {where}")
                found = [c for c in self.contacts.values()
                         if not match or str(c.get(match.group(1), "")).lower() == match.group(2).lower()]
                return Resp(200, {**envelope, "Contacts": found})
            if path == "/Contacts" and req.method == "POST":
                out = []
                for item in req.json.get("Contacts", []):
                    if not item.get("ContactID") and not item.get("Name"):
                        return _xero_validation("The contact name must be specified.")
                    cid = item.get("ContactID") or secrets.token_hex(16)
                    contact = self.contacts.setdefault(cid, {"ContactID": cid, "ContactStatus": "ACTIVE"})
                    contact.update({k: v for k, v in item.items() if k != "ContactID"})
                    out.append(contact)
                return Resp(200, {**envelope, "Contacts": out})
            if path == "/Invoices" and req.method == "GET":
                # GET Invoices: ?where=Type=="ACCREC"&order=UpdatedDateUTC DESC&page=1 (100 a page)
                where = req.q("where") or ""
                match = re.fullmatch(r'Type=="(ACCREC|ACCPAY)"', where)
                if where and not match:
                    return _xero_validation(f"Invalid where clause: {where}")
                found = [i for i in self.invoices.values() if not match or i["Type"] == match.group(1)]
                if (req.q("order") or "").replace(" ", "").upper() == "UPDATEDDATEUTCDESC":
                    found = list(reversed(found))  # insertion order is update order here
                page = int(req.q("page") or 1)
                return Resp(200, {**envelope, "Invoices": found[(page - 1) * 100:page * 100]})
            if path == "/Invoices" and req.method in ("PUT", "POST"):
                out = []
                for item in req.json.get("Invoices", []):
                    if item.get("Type") not in ("ACCREC", "ACCPAY"):
                        return _xero_validation("Invoice Type must be specified")
                    if (item.get("Contact") or {}).get("ContactID") not in self.contacts:
                        return _xero_validation("A Contact must be specified for this type of transaction")
                    lines, sub, tax = [], 0.0, 0.0
                    for li in item.get("LineItems", []):
                        rate = TAX_RATES.get(li.get("TaxType", "OUTPUT"))
                        if rate is None:
                            return _xero_validation(f"The TaxType code '{li.get('TaxType')}' does not exist or "
                                                    "cannot be used for this type of transaction.")
                        if not li.get("AccountCode"):
                            return _xero_validation("Account code must be specified")
                        amount = round(float(li.get("Quantity", 1)) * float(li["UnitAmount"]), 2)
                        line_tax = round(amount * rate, 2)
                        sub, tax = sub + amount, tax + line_tax
                        lines.append({**li, "LineAmount": amount, "TaxAmount": line_tax,
                                      "LineItemID": secrets.token_hex(16)})
                    iid = secrets.token_hex(16)
                    number = f"INV-{len(self.invoices) + 1:04d}"
                    contact = self.contacts[item["Contact"]["ContactID"]]
                    invoice = {"Type": item["Type"], "InvoiceID": iid, "InvoiceNumber": number,
                               "Reference": item.get("Reference", ""), "Contact": contact,
                               "Date": item.get("Date"), "DueDate": item.get("DueDate"),
                               "Status": item.get("Status", "DRAFT"), "LineAmountTypes": item.get("LineAmountTypes",
                               "Exclusive"), "LineItems": lines, "SubTotal": round(sub, 2), "TotalTax": round(tax, 2),
                               "Total": round(sub + tax, 2), "AmountDue": round(sub + tax, 2), "AmountPaid": 0.0,
                               "CurrencyCode": item.get("CurrencyCode", "AUD"), "HasErrors": False}
                    self.invoices[iid] = invoice
                    out.append(invoice)
                return Resp(200, {**envelope, "Invoices": out})
            m = re.fullmatch(r"/Invoices/([0-9a-f]+)/Email", path)
            if m and req.method == "POST":
                invoice = self.invoices.get(m.group(1))
                if invoice is None:
                    return Resp(404, {"Title": "Not Found"})
                if invoice["Status"] != "AUTHORISED":
                    return _xero_validation("Only invoices with a status of AUTHORISED can be emailed")
                self.emailed.append(invoice["InvoiceID"])
                return Resp(204)
            if path == "/Payments" and req.method == "PUT":
                out = []
                for item in req.json.get("Payments", []):
                    invoice = self.invoices.get((item.get("Invoice") or {}).get("InvoiceID", ""))
                    if invoice is None:
                        return _xero_validation("Invoice could not be found")
                    if invoice["Status"] != "AUTHORISED":
                        return _xero_validation("Payment can only be made against Authorised documents")
                    if not (item.get("Account") or {}).get("Code") and not (item.get("Account") or {}).get("AccountID"):
                        return _xero_validation("Account code or ID must be specified")
                    amount = float(item["Amount"])
                    if amount > invoice["AmountDue"] + 1e-9:
                        return _xero_validation("Payment amount exceeds the amount outstanding on this document")
                    invoice["AmountPaid"] = round(invoice["AmountPaid"] + amount, 2)
                    invoice["AmountDue"] = round(invoice["AmountDue"] - amount, 2)
                    if invoice["AmountDue"] <= 0:
                        invoice["Status"] = "PAID"
                    payment = {"PaymentID": secrets.token_hex(16), "Date": item.get("Date"), "Amount": amount,
                               "Reference": item.get("Reference", ""), "Status": "AUTHORISED",
                               "PaymentType": "ACCRECPAYMENT", "Invoice": {"InvoiceID": invoice["InvoiceID"],
                               "InvoiceNumber": invoice["InvoiceNumber"]}, "Account": item["Account"]}
                    self.payments.append(payment)
                    out.append(payment)
                return Resp(200, {**envelope, "Payments": out})
        return Resp(404, {"Title": "Not Found", "Status": 404})

    # -- Google Sheets v4 ---------------------------------------------------------------------

    def _sheets(self, req: Req) -> Resp:
        m = re.fullmatch(r"/v4/spreadsheets/([^/]+)/values/(.+?)(:append)?", req.path)
        if not m:
            return Resp(404, {"error": {"code": 404, "message": "Requested entity was not found.",
                                        "status": "NOT_FOUND"}})
        sheet_id, rng, append = m.group(1), unquote(m.group(2)), bool(m.group(3))
        with self._lock:
            book = self.sheets.get(sheet_id)
            if book is None:
                return Resp(404, {"error": {"code": 404, "message": "Requested entity was not found.",
                                            "status": "NOT_FOUND"}})
            tab, _, cells = rng.partition("!")
            if tab.startswith("'") and tab.endswith("'"):
                tab = tab[1:-1].replace("''", "'")
            if tab not in book:
                return Resp(400, {"error": {"code": 400, "message": f"Unable to parse range: {rng}",
                                            "status": "INVALID_ARGUMENT"}})
            rows = book[tab]
            if req.method == "GET":
                start, end = _row_span(cells, len(rows))
                values = [list(r) for r in rows[start - 1:end]]
                while values and not any(values[-1]):
                    values.pop()
                return Resp(200, {"range": f"'{tab}'!{cells or 'A1:Z1000'}", "majorDimension": "ROWS",
                                  "values": values} if values else {"range": rng, "majorDimension": "ROWS"})
            if req.q("valueInputOption") not in ("RAW", "USER_ENTERED"):
                return Resp(400, {"error": {"code": 400, "message": "Invalid valueInputOption", "status":
                                            "INVALID_ARGUMENT"}})
            values = req.json.get("values") or []
            if append:
                first = len(rows) + 1
                rows.extend([[str(v) for v in r] for r in values])
                width = max((len(r) for r in values), default=0)
                updated = f"'{tab}'!A{first}:{_col(width)}{first + len(values) - 1}"
                return Resp(200, {"spreadsheetId": sheet_id, "tableRange": f"'{tab}'!A1:{_col(width)}{first - 1}",
                                  "updates": {"spreadsheetId": sheet_id, "updatedRange": updated,
                                              "updatedRows": len(values), "updatedColumns": width,
                                              "updatedCells": sum(len(r) for r in values)}})
            if req.method == "PUT":
                start, _ = _row_span(cells, len(rows))
                for offset, row in enumerate(values):
                    index = start - 1 + offset
                    while len(rows) <= index:
                        rows.append([])
                    rows[index] = [str(v) for v in row]
                width = max((len(r) for r in values), default=0)
                return Resp(200, {"spreadsheetId": sheet_id, "updatedRange": f"'{tab}'!{cells}",
                                  "updatedRows": len(values), "updatedColumns": width,
                                  "updatedCells": sum(len(r) for r in values)})
        return Resp(405, {"error": {"code": 405, "message": "method not allowed"}})


def _col(n: int) -> str:
    out = ""
    while n > 0:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out or "A"


def _row_span(cells: str, total: int) -> tuple[int, int]:
    nums = [int(x) for x in re.findall(r"\d+", cells)]
    if not nums:
        return 1, max(total, 1)
    return nums[0], nums[1] if len(nums) > 1 else (nums[0] if ":" not in cells else max(total, nums[0]))


def serve(app: Any) -> ThreadingHTTPServer:
    """Serve ``app.handle(Req) -> Resp`` on a free loopback port, in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            req = Req(self.command, unquote(parts.path) if "%2F" not in parts.path else parts.path,
                      parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}, body)
            resp = app.handle(req)
            data = resp.body if isinstance(resp.body, bytes) else (
                resp.body if isinstance(resp.body, str) else json.dumps(resp.body)).encode()
            self.send_response(resp.status)
            if data or resp.status != 204:
                self.send_header("Content-Type", resp.content_type)
            for k, v in resp.headers.items():
                self.send_header(k, v)
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
def running(app: Any) -> Iterator[Any]:
    httpd = serve(app)
    app.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield app
    finally:
        httpd.shutdown()
        httpd.server_close()


def oauth_env(monkeypatch: Any, server: FakeOAuth, provider: str = "XERO") -> None:
    """Point a provider's OAuth endpoints and API at the local server, with the test app's credentials."""
    prefix = f"FLOWMATE_OAUTH_{provider}_"
    monkeypatch.setenv(prefix + "CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv(prefix + "CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv(prefix + "AUTHORIZE_URL", server.url + "/authorize")
    monkeypatch.setenv(prefix + "TOKEN_URL", server.url + "/token")
    monkeypatch.setenv(prefix + "API_URL", server.url)


__all__ = ["CLIENT_ID", "CLIENT_SECRET", "FakeOAuth", "Req", "Resp", "TENANT_A", "TENANT_B", "oauth_env", "quote",
           "running", "serve"]


def oauth_env_vars(server: FakeOAuth, provider: str = "XERO") -> dict[str, str]:
    """The same settings as :func:`oauth_env`, as a dict for a subprocess (the e2e app)."""
    prefix = f"FLOWMATE_OAUTH_{provider}_"
    return {prefix + "CLIENT_ID": CLIENT_ID, prefix + "CLIENT_SECRET": CLIENT_SECRET,
            prefix + "AUTHORIZE_URL": server.url + "/authorize", prefix + "TOKEN_URL": server.url + "/token",
            prefix + "API_URL": server.url}
