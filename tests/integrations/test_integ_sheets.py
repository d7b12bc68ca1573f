"""Google Sheets actions (OAuth connection) against the local Sheets v4 API: by header names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_oauth import FakeOAuth, oauth_env, running
from integ_helpers import one_step_workflow, run_now
from oauth_helpers import SignedIn, connect, signed_in_client

SHEET = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"


@pytest.fixture
def google(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeOAuth, SignedIn]]:
    with running(FakeOAuth()) as server:
        oauth_env(monkeypatch, server, "GOOGLE_SHEETS")
        server.sheets[SHEET] = {"Orders 2026": [["Date", "Customer", "Email", "Total", "Status"],
                                                ["2026-11-30", "Jo Smith", "jo@example.com", "42.50", "Paid"]]}
        who = signed_in_client()
        assert connect(who, server, name="google", type_="google_sheets").status_code == 303
        yield server, who


def _run(who: SignedIn, action: str, config: dict, payload: dict | None = None) -> dict:
    run = run_now(one_step_workflow(who.workspace_id, action, {"connection": "google", "spreadsheet_id": SHEET,
                                                               "sheet": "Orders 2026", **config}),
                  who.workspace_id, "manual", payload or {})
    return run


def test_google_connect_uses_offline_access_and_form_client_auth(google: tuple[FakeOAuth, SignedIn]) -> None:
    server, _ = google
    authorize = server.to("/authorize")[0].form  # the consent form posts back what /authorize was given
    assert authorize["access_type"] == "offline" and authorize["prompt"] == "consent"
    assert authorize["scope"] == "https://www.googleapis.com/auth/spreadsheets"
    token = server.to("/token")[0]
    assert "authorization" not in token.headers and token.form["client_id"]  # client_secret_post, as Google wants


def test_append_find_update_by_header_names(google: tuple[FakeOAuth, SignedIn]) -> None:
    server, who = google
    appended = _run(who, "sheets.append_row", {"values": {
        "customer": "{{ trigger.name }}", "Total": "{{ trigger.total }}",
                                                          "Email": "{{ trigger.email }}", "Date": "2026-12-01"}},
                    {"name": "Mia Nguyen", "total": 147, "email": "mia@nguyencafe.example"})
    assert appended["status"] == "succeeded", appended
    out = appended["steps"][0]["output"]
    assert out["row_number"] == 3 and out["updated_range"] == "'Orders 2026'!A3:E3"
    assert server.sheets[SHEET]["Orders 2026"][2] == ["2026-12-01", "Mia Nguyen", "mia@nguyencafe.example", "147", ""]
    post = [r for r in server.to("/v4/") if r.method == "POST"][0]
    assert post.q("valueInputOption") == "USER_ENTERED" and post.q("insertDataOption") == "INSERT_ROWS"
    assert post.headers["authorization"].startswith("Bearer acc-")

    found = _run(who, "sheets.find_rows", {"column": "email", "value": " MIA@nguyencafe.example "})
    rows = found["steps"][0]["output"]
    assert rows["count"] == 1 and rows["first"] == {"Date": "2026-12-01", "Customer": "Mia Nguyen",
                                                    "Email": "mia@nguyencafe.example", "Total": "147", "Status": "",
                                                    "_row": 3}

    updated = _run(who, "sheets.update_row", {"row_number": 3, "values": {"Status": "Paid"}})
    assert updated["status"] == "succeeded", updated
    from engine.actions._samples import SAMPLE_OUTPUTS

    for name, output in (("sheets.append_row", out), ("sheets.find_rows", rows),
                         ("sheets.update_row", updated["steps"][0]["output"])):
        assert set(SAMPLE_OUTPUTS[name]) == set(output), name
    assert server.sheets[SHEET]["Orders 2026"][2] == ["2026-12-01", "Mia Nguyen", "mia@nguyencafe.example", "147",
                                                      "Paid"]
    assert server.sheets[SHEET]["Orders 2026"][1][1] == "Jo Smith"  # other rows untouched


def test_unknown_column_and_missing_sheet_are_clear_permanent_errors(google: tuple[FakeOAuth, SignedIn]) -> None:
    _, who = google
    bad = _run(who, "sheets.append_row", {"values": {"Phone": "0412"}})
    assert bad["status"] == "failed" and "no column named 'Phone'" in bad["steps"][0]["error"]
    assert "Date, Customer, Email, Total, Status" in bad["steps"][0]["error"]
    run = run_now(one_step_workflow(who.workspace_id, "sheets.find_rows", {
        "connection": "google", "spreadsheet_id": "1NoSuchSheetXXXXXXXXXX", "column": "Email", "value": "x"},
        max_attempts=3), who.workspace_id, "manual", {})
    assert run["status"] == "failed" and run["steps"][0]["attempts"] == 1
    assert "Requested entity was not found" in run["steps"][0]["error"]
