"""The REST API as a script author sees it: shapes, pagination, errors, auth by cookie, headers."""

from __future__ import annotations

from typing import Any

from conftest import ApiCtx, simple_workflow


def test_workflow_lifecycle(api: ApiCtx) -> None:
    created = api.post("/api/v1/workflows", simple_workflow("Lead follow-up"))
    assert created.status_code == 201
    wf = created.json()
    assert created.headers["location"] == f"/api/v1/workflows/{wf['id']}"
    assert wf["version"] == 1 and wf["enabled"] is True
    assert wf["webhook_path"] == wf["trigger"]["webhook_path"]

    got = api.get(f"/api/v1/workflows/{wf['id']}").json()
    assert got["steps"][0]["key"] == "note"

    updated = api.client.put(f"/api/v1/workflows/{wf['id']}", json=simple_workflow("Renamed"), headers=api.a.auth())
    assert updated.status_code == 200
    assert updated.json()["version"] == 2 and updated.json()["name"] == "Renamed"
    assert updated.json()["webhook_path"] == wf["webhook_path"]  # the URL survives edits

    stale = api.client.put(f"/api/v1/workflows/{wf['id']}?expected_version=1", json=simple_workflow("X"),
                           headers=api.a.auth())
    assert stale.status_code == 422 and "version" in stale.json()["error"]["fields"]

    assert api.post(f"/api/v1/workflows/{wf['id']}/disable").json()["enabled"] is False
    assert api.post(f"/api/v1/workflows/{wf['id']}/enable").json()["enabled"] is True

    export = api.get(f"/api/v1/workflows/{wf['id']}/export").json()
    assert export["name"] == "Renamed" and "id" not in export
    # the export re-imports as is
    assert api.post("/api/v1/workflows", export).status_code == 201

    assert api.client.delete(f"/api/v1/workflows/{wf['id']}", headers=api.a.auth()).status_code == 204
    assert api.get(f"/api/v1/workflows/{wf['id']}").status_code == 404


def test_workflow_list_search_and_cursor(api: ApiCtx) -> None:
    for i in range(5):
        api.create_workflow(simple_workflow(f"Flow {i}", description="alpha" if i % 2 else "beta"))
    page1 = api.get("/api/v1/workflows?limit=2").json()
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    seen = [w["id"] for w in page1["items"]]
    cursor = page1["next_cursor"]
    while cursor:
        page = api.get("/api/v1/workflows", params={"limit": 2, "cursor": cursor}).json()
        seen += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 5
    found = api.get("/api/v1/workflows", params={"search": "alpha"}).json()["items"]
    assert sorted(w["name"] for w in found) == ["Flow 1", "Flow 3"]
    bad = api.get("/api/v1/workflows", params={"cursor": "garbage!"})
    assert bad.status_code == 422 and "cursor" in bad.json()["error"]["fields"]


def test_validation_names_the_field(api: ApiCtx) -> None:
    r = api.post("/api/v1/workflows", {"name": "x", "steps": [{"key": "Bad Key", "action": "core.log"}]})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_failed" and "steps.0.key" in err["fields"]

    r = api.post("/api/v1/workflows", {"name": "x", "steps": [{"key": "a", "action": "no.such"}]})
    assert r.status_code == 422 and "steps.0.action" in r.json()["error"]["fields"]

    hmac_no_secret = {"type": "webhook", "config": {"auth": {"type": "hmac"}}}
    r = api.post("/api/v1/workflows", simple_workflow(trigger=hmac_no_secret))
    assert r.status_code == 422 and "trigger.config.auth.secret" in r.json()["error"]["fields"]

    r = api.get("/api/v1/runs", params={"limit": 0})
    assert r.status_code == 422 and "limit" in r.json()["error"]["fields"]

    r = api.client.post("/api/v1/workflows", content=b"{not json", headers={**api.a.auth(),
                                                                           "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"


def test_runs_manual_filters_cancel_rerun(api: ApiCtx) -> None:
    wf = api.create_workflow(simple_workflow("Manual", trigger={"type": "manual", "config": {}}))
    other = api.create_workflow(simple_workflow("Other", trigger={"type": "manual", "config": {}}))
    r = api.post(f"/api/v1/workflows/{wf['id']}/runs", {"payload": {"email": "a@b.c"}})
    assert r.status_code == 202
    run = r.json()
    assert run["status"] == "queued" and run["trigger"] == {"payload": {"email": "a@b.c"}}
    assert [s["key"] for s in run["steps"]] == ["note"]
    api.post(f"/api/v1/workflows/{other['id']}/runs", {"payload": {}})

    listed = api.get("/api/v1/runs", params={"workflow_id": wf["id"]}).json()["items"]
    assert [x["id"] for x in listed] == [run["id"]]
    assert len(api.get("/api/v1/runs", params={"status": "queued"}).json()["items"]) == 2
    assert api.get("/api/v1/runs", params={"status": "succeeded"}).json()["items"] == []
    assert api.get("/api/v1/runs", params={"since": "2999-01-01T00:00:00"}).json()["items"] == []
    assert len(api.get("/api/v1/runs", params={"until": "2999-01-01T00:00:00Z"}).json()["items"]) == 2
    assert api.get("/api/v1/runs", params={"status": "bogus"}).status_code == 422

    # same shape as `flowmate runs show`
    from engine.cli import _show_run

    assert api.get(f"/api/v1/runs/{run['id']}").json() == _show_run(run["id"])

    cancelled = api.post(f"/api/v1/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.post(f"/api/v1/runs/{run['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    rerun = api.post(f"/api/v1/runs/{run['id']}/rerun")
    assert rerun.status_code == 202
    assert rerun.json()["rerun_of"] == run["id"] and rerun.json()["trigger"] == run["trigger"]


def test_templates_list_show_instantiate(api: ApiCtx) -> None:
    items = api.get("/api/v1/templates").json()["items"]
    assert len(items) >= 5
    slug = items[0]["slug"]
    detail = api.get(f"/api/v1/templates/{slug}").json()
    assert detail["variables"] is not None and detail["definition"]["steps"]
    assert api.get("/api/v1/templates/no-such-template").status_code == 404
    made = api.post(f"/api/v1/templates/{slug}/instantiate", {"name": "From gallery"})
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "From gallery"
    assert api.get(f"/api/v1/workflows/{made.json()['id']}").status_code == 200
    bad = api.post(f"/api/v1/templates/{slug}/instantiate", {"variables": {"nope": 1}})
    assert bad.status_code == 422 and "variables.nope" in bad.json()["error"]["fields"]


def test_connections_secrets_write_only(api: ApiCtx) -> None:
    body = {"type": "smtp", "name": "mail", "config": {"host": "smtp.example.test", "from_email": "a@b.c"},
            "secret": {"password": "HUNTER2-SECRET"}}
    r = api.post("/api/v1/connections", body)
    assert r.status_code == 201, r.text
    conn = r.json()
    assert "HUNTER2-SECRET" not in r.text and conn["secrets_set"] == ["password"]
    assert api.post("/api/v1/connections", body).status_code == 409
    patched = api.client.patch(f"/api/v1/connections/{conn['id']}", json={"name": "mail2"}, headers=api.a.auth())
    assert patched.status_code == 200 and patched.json()["secrets_set"] == ["password"]
    for path in ("/api/v1/connections", f"/api/v1/connections/{conn['id']}", "/api/v1/audit"):
        assert "HUNTER2-SECRET" not in api.get(path).text
    bad = api.post("/api/v1/connections", {"type": "smtp", "name": "x", "config": {"bogus": 1}})
    assert bad.status_code == 422 and "config.bogus" in bad.json()["error"]["fields"]
    assert api.client.delete(f"/api/v1/connections/{conn['id']}", headers=api.a.auth()).status_code == 204


def test_tokens_shown_once_and_revocable(api: ApiCtx) -> None:
    r = api.post("/api/v1/tokens", {"name": "ci", "role": "editor"}, role="admin")
    assert r.status_code == 201
    token = r.json()["token"]
    listed = api.get("/api/v1/tokens", role="admin")
    assert token not in listed.text and any(t["name"] == "ci" for t in listed.json()["items"])
    assert api.client.get("/api/v1/workflows", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert api.post("/api/v1/tokens", {"role": "owner"}, role="admin").status_code == 403  # no escalation
    assert api.client.delete(f"/api/v1/tokens/{r.json()['id']}", headers=api.a.auth("admin")).status_code == 204
    assert api.client.get("/api/v1/workflows", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_audit_filters_and_usage(api: ApiCtx) -> None:
    wf = api.create_workflow()
    api.post(f"/api/v1/workflows/{wf['id']}/disable")
    entries = api.get("/api/v1/audit", params={"object_id": wf["id"]}).json()["items"]
    assert [e["action"] for e in entries] == ["workflow.disable", "workflow.create"]
    assert [e["action"] for e in api.get("/api/v1/audit", params={"action": "workflow.disable"}).json()["items"]] \
        == ["workflow.disable"]
    prefixed = api.get("/api/v1/audit", params={"action": "workflow.*"}).json()["items"]
    assert {e["action"] for e in prefixed} == {"workflow.create", "workflow.disable"}
    assert api.get("/api/v1/audit", params={"limit": 1}).json()["next_cursor"]
    assert api.get("/api/v1/audit", role="viewer").status_code == 200

    from engine.db import session_scope
    from engine.services.usage import add_usage

    with session_scope() as s:
        add_usage(s, api.a.id, runs=3, steps=7)
    usage = api.get("/api/v1/usage").json()
    assert usage["runs"] == 3 and usage["steps"] == 7 and usage["remaining"] == usage["quota"] - 3
    assert usage["history"][0]["runs"] == 3


def test_session_cookie_auth_and_cross_site_refusal(api: ApiCtx) -> None:
    from engine.db import session_scope
    from engine.services.accounts import create_user, get_workspace_by_slug
    from engine.services.sessions import COOKIE_NAME, start_session

    with session_scope() as s:
        ws = get_workspace_by_slug(s, api.a.slug)
        user = create_user(s, "zoe@example.com", "correct horse battery", ws, role="editor")
        cookie = start_session(s, user, ws.id)
    client = api.client
    client.cookies.set(COOKIE_NAME, cookie)
    try:
        assert client.get("/api/v1/workflows").status_code == 200
        assert client.post("/api/v1/workflows", json=simple_workflow()).status_code == 201
        evil = client.post("/api/v1/workflows", json=simple_workflow(), headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403
        client.cookies.set(COOKIE_NAME, "fms_expired_or_fake")
        assert client.get("/api/v1/workflows").status_code == 401
    finally:
        client.cookies.clear()


def test_unexpected_error_is_500_with_request_id_and_no_trace(api: ApiCtx, monkeypatch: Any) -> None:
    from engine.services import workflows

    def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("db password is hunter2")

    monkeypatch.setattr(workflows, "list_workflows", boom)
    r = api.get("/api/v1/workflows")
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["code"] == "internal_error" and err["request_id"] == r.headers["x-request-id"]
    assert "hunter2" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text


def test_security_headers_cors_and_unknown_routes(api_factory: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("FLOWMATE_CORS_ORIGINS", "https://app.example.com")
    monkeypatch.setenv("FLOWMATE_BASE_URL", "https://flowmate.example.com")
    api = api_factory()
    r = api.get("/api/v1/workflows")
    for header in ("x-content-type-options", "x-frame-options", "content-security-policy", "x-request-id",
                   "referrer-policy"):
        assert header in r.headers
    assert r.headers["cache-control"] == "no-store"
    ok = api.client.options("/api/v1/workflows", headers={"Origin": "https://app.example.com",
                                                          "Access-Control-Request-Method": "POST"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example.com"
    bad = api.client.options("/api/v1/workflows", headers={"Origin": "https://evil.example",
                                                           "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in bad.headers
    simple = api.client.get("/api/v1/workflows", headers={**api.a.auth(), "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    missing = api.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api.client.get("/api/docs").status_code == 200
    assert api.client.get("/api/openapi.json").json()["info"]["title"] == "FlowMate API"


def test_health_reports_dependencies(api: ApiCtx, start_runtime: Any) -> None:
    # No worker threads in this process yet: degraded, 503.
    r = api.client.get("/api/health")
    assert r.status_code == 503
    body = r.json()
    assert body["checks"]["database"]["ok"] and body["checks"]["queue"]["ok"]
    assert body["checks"]["workers"]["ok"] is False

    runtime = start_runtime(threads=1)
    try:
        r = api.client.get("/api/health")
        assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        runtime.stop()
    assert api.client.get("/api/health").status_code == 503  # a stopped worker is not alive


def test_health_503_when_database_down(api: ApiCtx, monkeypatch: Any, start_runtime: Any) -> None:
    from engine import db

    runtime = start_runtime(threads=1)
    try:
        broken = db.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_pre_ping=False)
        monkeypatch.setattr("flowmate_app.api.health.get_engine", lambda: broken)
        r = api.client.get("/api/health")
        assert r.status_code == 503 and r.json()["checks"]["database"]["ok"] is False
    finally:
        runtime.stop()


def test_metrics_exposes_run_and_step_metrics(api: ApiCtx, start_runtime: Any) -> None:
    from support import wait_for

    wf = api.create_workflow()
    runtime = start_runtime(threads=2)
    try:
        run_id = api.client.post(wf["webhook_path"], json={"x": 1}).json()["run_id"]
        wait_for(lambda: api.get(f"/api/v1/runs/{run_id}").json()["status"] == "succeeded")
    finally:
        runtime.stop()
    text = api.client.get("/metrics").text
    assert 'flowmate_runs_created_total{trigger="webhook"}' in text
    assert 'flowmate_runs_finished_total{status="succeeded"}' in text
    assert 'flowmate_step_duration_seconds_bucket{action="core.log"' in text
    assert "flowmate_queue_depth" in text and "flowmate_workers_alive" in text
