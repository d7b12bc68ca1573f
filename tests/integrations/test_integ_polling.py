"""Polling triggers against local providers: Google Sheets new row, Xero new invoice, HTTP poll.

What a person relies on: rows/invoices/items present when the trigger is set up start nothing;
each one added later starts exactly one run, once, with its data; two schedulers ticking at the
same moment ask the source once; a provider error backs off instead of hammering it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fake_oauth import FakeOAuth, oauth_env, running
from oauth_helpers import SignedIn, connect, signed_in_client

SHEET = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
TAB = "Orders 2026"


def _workflow(workspace_id: str, trigger: dict[str, Any]) -> str:
    from engine.db import session_scope
    from engine.services.actor import Actor
    from engine.services.workflows import create_workflow

    with session_scope() as session:
        return create_workflow(session, Actor.system(workspace_id), {
            "name": "Poller", "trigger": trigger,
            "steps": [{"key": "note", "action": "core.log", "config": {"message": "new {{ trigger.item_id }}"}}]}).id


def _runs(workflow_id: str) -> list[Any]:
    from sqlmodel import select

    from engine.db import session_scope
    from engine.models import Run

    with session_scope() as session:
        rows = session.exec(select(Run).where(Run.workflow_id == workflow_id).order_by(Run.created_at)).all()
        return [(r.trigger_type, r.trigger_payload) for r in rows]


def _state(workflow_id: str) -> Any:
    from engine.db import session_scope
    from engine.models import PollState

    with session_scope() as session:
        state = session.get(PollState, workflow_id)
        session.expunge(state)
        return state


def _next_fire(workflow_id: str) -> Any:
    from sqlmodel import select

    from engine.db import as_aware, session_scope
    from engine.models import Trigger

    with session_scope() as session:
        return as_aware(session.exec(select(Trigger).where(Trigger.workflow_id == workflow_id)).one().next_fire_at)


def _tick(at: Any) -> int:
    from engine.scheduler import tick

    return tick(at)


@pytest.fixture
def google(any_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeOAuth, SignedIn]]:
    with running(FakeOAuth()) as server:
        oauth_env(monkeypatch, server, "GOOGLE_SHEETS")
        server.sheets[SHEET] = {TAB: [["Date", "Customer", "Email", "Total"],
                                      ["2026-11-30", "Jo Smith", "jo@example.com", "42.50"]]}
        who = signed_in_client()
        assert connect(who, server, name="google", type_="google_sheets").status_code == 303
        yield server, who


def test_sheets_new_row_fires_once_per_new_row_never_for_rows_present_at_setup(google) -> None:
    from engine.db import utcnow

    server, who = google
    wf = _workflow(who.workspace_id, {"type": "sheets.new_row", "config": {
        "connection": "google", "spreadsheet_id": SHEET, "sheet": TAB, "interval_minutes": 1}})
    t0 = utcnow() + timedelta(seconds=1)
    assert _tick(t0) == 0  # first poll: the starting point
    state = _state(wf)
    assert state.baseline_at is not None and state.seen == ["row:2"]
    assert _runs(wf) == []

    rows = server.sheets[SHEET][TAB]
    rows.append(["2026-12-01", "Mia Nguyen", "mia@nguyencafe.example", "147"])
    rows.append(["2026-12-01", "Sam Lee", "sam@lee.example", "12"])
    assert _tick(t0 + timedelta(seconds=30)) == 0  # not due yet: once per interval
    assert _tick(t0 + timedelta(seconds=61)) == 2
    runs = _runs(wf)
    assert [r[0] for r in runs] == ["sheets.new_row", "sheets.new_row"]
    assert runs[0][1]["item"] == {"Date": "2026-12-01", "Customer": "Mia Nguyen", "Email": "mia@nguyencafe.example",
                                  "Total": "147", "_row": 3}
    assert runs[1][1]["item"]["Customer"] == "Sam Lee"
    assert _tick(t0 + timedelta(seconds=122)) == 0  # nothing new: nothing fires again
    assert len(_runs(wf)) == 2

    # Two schedulers ticking at the same moment: the sheet is read once, the new row fires once.
    rows.append(["2026-12-02", "Ana Costa", "ana@costa.example", "88"])
    reads_before = len([r for r in server.to("/v4/") if r.method == "GET"])
    at = t0 + timedelta(seconds=183)
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(_tick(at))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1]
    assert len([r for r in server.to("/v4/") if r.method == "GET"]) == reads_before + 1
    assert [r[1]["item"]["Customer"] for r in _runs(wf)][-1] == "Ana Costa" and len(_runs(wf)) == 3


def test_sheets_changed_source_records_a_new_starting_point(google) -> None:
    from engine.db import session_scope, utcnow
    from engine.services.actor import Actor
    from engine.services.workflows import update_workflow

    server, who = google
    server.sheets[SHEET]["Other"] = [["Email", "Name"], ["a@x.example", "A"], ["b@x.example", "B"]]
    config = {"connection": "google", "spreadsheet_id": SHEET, "sheet": TAB, "interval_minutes": 1}
    wf = _workflow(who.workspace_id, {"type": "sheets.new_row", "config": config})
    t0 = utcnow() + timedelta(seconds=1)
    _tick(t0)
    with session_scope() as session:
        update_workflow(session, Actor.system(who.workspace_id), wf, {
            "name": "Poller", "trigger": {"type": "sheets.new_row", "config": {**config, "sheet": "Other",
                                                                                 "id_column": "email"}},
            "steps": [{"key": "note", "action": "core.log", "config": {"message": "x"}}]})
    assert _tick(t0 + timedelta(seconds=61)) == 0  # rows of the other tab are history too
    assert sorted(_state(wf).seen) == ["a@x.example", "b@x.example"]
    server.sheets[SHEET]["Other"].append(["c@x.example", "C"])
    assert _tick(t0 + timedelta(seconds=122)) == 1
    assert _runs(wf)[-1][1]["item_id"] == "c@x.example"


@pytest.fixture
def xero(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeOAuth, SignedIn]]:
    with running(FakeOAuth()) as server:
        oauth_env(monkeypatch, server)
        who = signed_in_client()
        assert connect(who, server).status_code == 303
        yield server, who


def _invoice(server: FakeOAuth, number: int, kind: str = "ACCREC") -> str:
    iid = f"{number:032x}"
    server.invoices[iid] = {"Type": kind, "InvoiceID": iid, "InvoiceNumber": f"INV-{number:04d}",
                            "Contact": {"Name": "Nguyen Cafe"}, "Status": "AUTHORISED", "Total": 165.0,
                            "CurrencyCode": "AUD"}
    return iid


def test_xero_new_invoice_and_backoff_on_rate_limit(xero) -> None:
    from engine.db import utcnow

    server, who = xero
    _invoice(server, 1)
    wf = _workflow(who.workspace_id, {"type": "xero.new_invoice", "config": {"connection": "xero",
                                                                              "interval_minutes": 5}})
    t0 = utcnow() + timedelta(seconds=1)
    assert _tick(t0) == 0
    listed = server.to("/api.xro/2.0/Invoices")[-1]
    assert listed.q("where") == 'Type=="ACCREC"' and listed.q("order") == "UpdatedDateUTC DESC"
    assert listed.headers["xero-tenant-id"]
    new_id = _invoice(server, 2)
    _invoice(server, 3, kind="ACCPAY")  # a bill: not a sales invoice
    assert _tick(t0 + timedelta(minutes=5)) == 1
    assert _runs(wf)[-1][1]["item"]["InvoiceID"] == new_id
    assert _runs(wf)[-1][1]["item"]["InvoiceNumber"] == "INV-0002"

    # Xero's minute limit: no run, the error is kept and the next poll waits twice the interval.
    server.rate_limit_next = [30]
    _invoice(server, 4)
    at = t0 + timedelta(minutes=10)
    assert _tick(at) == 0
    state = _state(wf)
    assert state.failures == 1 and "limit" in state.last_error
    assert _next_fire(wf) == at + timedelta(minutes=10)
    assert _tick(at + timedelta(minutes=10)) == 1  # recovered: the invoice is not lost
    assert _state(wf).failures == 0

    # Xero's daily limit says "come back in an hour": the next poll waits for that, not our backoff.
    server.rate_limit_next = [3600]
    later = at + timedelta(minutes=15)
    assert _tick(later) == 0
    assert _next_fire(wf) == later + timedelta(seconds=3600)


class _Feed(BaseHTTPRequestHandler):
    items: list[dict[str, Any]] = []
    status = 200
    hits = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).hits += 1
        body = json.dumps({"data": {"items": type(self).items}}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def feed() -> Iterator[tuple[type[_Feed], str]]:
    handler = type("Feed", (_Feed,), {"items": [{"id": 1, "email": "a@x.example"}], "status": 200, "hits": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}/v1/signups"
    finally:
        server.shutdown()
        server.server_close()


def test_http_poll_dedupes_by_id_field_and_backs_off(any_db: str, workspace: dict[str, str], feed) -> None:
    from engine.db import utcnow

    handler, url = feed
    wf = _workflow(workspace["id"], {"type": "http.poll", "config": {
        "url": url, "items_path": "data.items", "id_field": "id", "interval_minutes": 1}})
    t0 = utcnow() + timedelta(seconds=1)
    assert _tick(t0) == 0
    handler.items = [{"id": 2, "email": "b@x.example"}, {"id": 1, "email": "a@x.example"},
                     {"email": "no-id@x.example"}]
    assert _tick(t0 + timedelta(minutes=1)) == 1
    assert _runs(wf)[-1][1]["item"] == {"id": 2, "email": "b@x.example"}
    assert _runs(wf)[-1][1]["item_id"] == "2"
    handler.status = 503
    at = t0 + timedelta(minutes=2)
    assert _tick(at) == 0
    assert "503" in _state(wf).last_error and _next_fire(wf) == at + timedelta(minutes=2)
    hits = handler.hits
    assert _tick(at + timedelta(minutes=1)) == 0 and handler.hits == hits  # backing off: not asked
    handler.status = 200
    handler.items.append({"id": 3, "email": "c@x.example"})
    assert _tick(at + timedelta(minutes=2)) == 1


def test_polling_trigger_config_is_validated(sqlite_db: str, workspace: dict[str, str]) -> None:
    from engine.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as err:
        _workflow(workspace["id"], {"type": "http.poll", "config": {"url": "ftp://x", "interval_minutes": 0}})
    assert {"trigger.config.url", "trigger.config.interval_minutes"} <= set(err.value.fields)
