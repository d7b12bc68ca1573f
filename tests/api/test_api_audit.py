"""/api/v1/audit: export with the current filters, chain verification, streaming settings."""

from __future__ import annotations

import csv
import io
import json

from conftest import ApiCtx, simple_workflow


def test_export_csv_and_jsonl_follow_the_filters(any_api: ApiCtx) -> None:
    wf = any_api.create_workflow(simple_workflow("Export me"))
    r = any_api.post(f"/api/v1/workflows/{wf['id']}/disable")
    assert r.status_code == 200, r.text
    got = any_api.get("/api/v1/audit/export", params={"format": "csv", "action": "workflow."})
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert 'filename="audit.csv"' in got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [r["action"] for r in rows] == ["workflow.create", "workflow.disable"]
    assert all(len(r["hash"]) == 64 for r in rows)

    lines = any_api.get("/api/v1/audit/export", params={"format": "jsonl", "action": "workflow.create"})
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    items = [json.loads(line) for line in lines.text.splitlines()]
    assert [i["action"] for i in items] == ["workflow.create"] and items[0]["changes"]["name"] == "Export me"

    other = any_api.get("/api/v1/audit/export", params={"format": "jsonl"}, tenant=any_api.b)
    assert "Export me" not in other.text  # another workspace's trail is not in it

    bad = any_api.get("/api/v1/audit/export", params={"format": "xml"})
    assert bad.status_code == 422 and "format" in bad.text
    exports = any_api.get("/api/v1/audit", params={"action": "audit.export"}).json()["items"]
    assert exports[0]["changes"]["format"] == "jsonl" and len(exports) == 2


def test_verify_and_stream_settings(api: ApiCtx) -> None:
    ok = api.get("/api/v1/audit/verify").json()
    assert ok["ok"] is True and ok["rows"] >= 1
    assert api.get("/api/v1/audit/stream").json() == {"stream": None}
    bad = api.client.put("/api/v1/audit/stream", json={"kind": "syslog", "host": "logs.example"},
                         headers=api.a.auth("owner"))
    assert bad.status_code == 422 and "port" in bad.json()["error"]["fields"]
    denied = api.client.put("/api/v1/audit/stream", json={"kind": "webhook", "url": "https://siem.example/in"},
                            headers=api.a.auth("admin"))
    assert denied.status_code == 403
    made = api.client.put("/api/v1/audit/stream", json={"kind": "webhook", "url": "https://siem.example/in"},
                          headers=api.a.auth("owner"))
    assert made.status_code == 200 and made.json()["stream"]["secret"].startswith("whsec_")
    shown = api.get("/api/v1/audit/stream").json()["stream"]
    assert shown["kind"] == "webhook" and "secret" not in shown and shown["secret_set"]
    assert api.client.delete("/api/v1/audit/stream", headers=api.a.auth("owner")).status_code == 204


def test_an_export_that_matches_no_rows_is_an_empty_file_not_an_error(api: ApiCtx) -> None:
    r = api.get("/api/v1/audit/export?format=jsonl&action=nothing.matches")
    assert r.status_code == 200, r.text
    assert r.text == ""
