"""Tenancy matrix: every route, called with another workspace's token, answers 404 exactly like a
missing object; a viewer gets 403 on every mutation; and in both cases nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ApiCtx, simple_workflow

WF_DEF = simple_workflow("Changed")

# (method, path, json body). {wf}, {run}, {conn}, {tok} are workspace A's objects.
OBJECT_READS = [
    ("GET", "/api/v1/workflows/{wf}", None),
    ("GET", "/api/v1/workflows/{wf}/export", None),
    ("GET", "/api/v1/runs/{run}", None),
    ("GET", "/api/v1/connections/{conn}", None),
]
OBJECT_MUTATIONS = [
    ("PUT", "/api/v1/workflows/{wf}", WF_DEF),
    ("DELETE", "/api/v1/workflows/{wf}", None),
    ("POST", "/api/v1/workflows/{wf}/enable", None),
    ("POST", "/api/v1/workflows/{wf}/disable", None),
    ("POST", "/api/v1/workflows/{wf}/runs", {"payload": {"x": 1}}),
    ("POST", "/api/v1/runs/{run}/cancel", None),
    ("POST", "/api/v1/runs/{run}/rerun", None),
    ("PATCH", "/api/v1/connections/{conn}", {"name": "renamed"}),
    ("DELETE", "/api/v1/connections/{conn}", None),
    ("POST", "/api/v1/connections/{conn}/test", None),
    ("DELETE", "/api/v1/tokens/{tok}", None),
]
COLLECTION_MUTATIONS = [
    ("POST", "/api/v1/workflows", simple_workflow("New")),
    ("POST", "/api/v1/connections", {"type": "slack", "name": "new", "secret": {"webhook_url": "https://x.test/h"}}),
    ("POST", "/api/v1/tokens", {"name": "t", "role": "viewer"}),
    ("POST", "/api/v1/templates/{template}/instantiate", {}),
]
LISTS = ["/api/v1/workflows", "/api/v1/runs", "/api/v1/connections", "/api/v1/audit", "/api/v1/tokens",
         "/api/v1/usage"]

TABLES = ["workflow", "trigger", "step", "run", "steprun", "connection", "apitoken", "auditlog", "usage"]


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    from sqlalchemy import text

    from engine.db import get_engine

    # A token's "last used" time is bookkeeping of the call itself, not a change the call made.
    select = {t: f"SELECT * FROM {t}" for t in TABLES}
    select["apitoken"] = ("SELECT id, workspace_id, name, role, token_hash, prefix, created_by, created_at, "
                          "revoked_at, expires_at FROM apitoken")
    with get_engine().connect() as conn:
        return {t: sorted(tuple(map(str, r)) for r in conn.execute(text(select[t]))) for t in TABLES}


@pytest.fixture
def objects(api: ApiCtx) -> dict[str, str]:
    from sqlmodel import select

    from engine import catalog
    from engine.db import session_scope
    from engine.models import ApiToken

    wf = api.create_workflow()
    run = api.post(f"/api/v1/workflows/{wf['id']}/runs", {"payload": {"n": 1}})
    assert run.status_code == 202, run.text
    conn = api.post("/api/v1/connections", {"type": "slack", "name": "alerts",
                                            "secret": {"webhook_url": "https://hooks.example.test/x"}})
    assert conn.status_code == 201, conn.text
    with session_scope() as s:
        tok = s.exec(select(ApiToken).where(ApiToken.workspace_id == api.a.id, ApiToken.role == "editor")).first()
    template = catalog.list_templates()[0]["slug"]
    return {"wf": wf["id"], "run": run.json()["id"], "conn": conn.json()["id"], "tok": tok.id, "template": template}


def _call(api: ApiCtx, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return api.client.request(method, path, json=body, headers=headers)


def test_other_workspace_gets_404_and_nothing_changes(api: ApiCtx, objects: dict[str, str]) -> None:
    before = snapshot()
    for method, template, body in OBJECT_READS + OBJECT_MUTATIONS:
        path = template.format(**objects)
        r = _call(api, method, path, body, api.b.auth("owner"))
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "not_found"
        # indistinguishable from an id that does not exist at all
        missing = _call(api, method, path.replace(path.split("/")[4], "0" * 32), body, api.b.auth("owner"))
        assert missing.status_code == 404 and missing.json()["error"]["message"] == r.json()["error"]["message"]
    assert snapshot() == before


def test_other_workspace_lists_never_show_our_objects(api: ApiCtx, objects: dict[str, str]) -> None:
    for path in LISTS:
        r = _call(api, "GET", path, None, api.b.auth("owner"))
        assert r.status_code == 200, (path, r.text)
        for value in (objects["wf"], objects["run"], objects["conn"], objects["tok"]):
            assert value not in r.text, path
    # A sees its own
    assert objects["wf"] in api.get("/api/v1/workflows").text


def test_webhook_run_of_other_workspace_not_visible(api: ApiCtx, objects: dict[str, str]) -> None:
    wf = api.get(f"/api/v1/workflows/{objects['wf']}").json()
    run_id = api.client.post(wf["webhook_path"], json={"a": 1}).json()["run_id"]
    assert api.get(f"/api/v1/runs/{run_id}").status_code == 200
    assert api.get(f"/api/v1/runs/{run_id}", tenant=api.b).status_code == 404


def test_viewer_gets_403_on_every_mutation_and_nothing_changes(api: ApiCtx, objects: dict[str, str]) -> None:
    before = snapshot()
    for method, template, body in OBJECT_MUTATIONS + COLLECTION_MUTATIONS:
        path = template.format(**objects)
        r = _call(api, method, path, body, api.a.auth("viewer"))
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    assert snapshot() == before
    # ... while reads work for a viewer
    for method, template, body in OBJECT_READS:
        assert _call(api, method, template.format(**objects), body, api.a.auth("viewer")).status_code == 200


def test_editor_cannot_manage_tokens(api: ApiCtx, objects: dict[str, str]) -> None:
    before = snapshot()
    assert api.get("/api/v1/tokens", role="editor").status_code == 403
    assert api.post("/api/v1/tokens", {"name": "x"}, role="editor").status_code == 403
    assert api.client.delete(f"/api/v1/tokens/{objects['tok']}", headers=api.a.auth("editor")).status_code == 403
    assert snapshot() == before


def test_missing_or_bad_credentials_are_401(api: ApiCtx, objects: dict[str, str]) -> None:
    before = snapshot()
    for method, template, body in OBJECT_READS + OBJECT_MUTATIONS + COLLECTION_MUTATIONS:
        path = template.format(**objects)
        for headers in ({}, {"Authorization": "Bearer fm_not_a_token"}, {"Authorization": "Basic abc"}):
            r = _call(api, method, path, body, headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.json()["error"]["code"] == "unauthorized"
            assert r.headers["www-authenticate"].startswith("Bearer")
    assert snapshot() == before


def test_revoked_token_is_401(api: ApiCtx, objects: dict[str, str]) -> None:
    assert api.client.delete(f"/api/v1/tokens/{objects['tok']}", headers=api.a.auth("admin")).status_code == 204
    r = api.client.get("/api/v1/workflows", headers=api.a.auth("editor"))
    assert r.status_code == 401
