"""Data governance over HTTP: exports, workspace deletion, account deletion, erasure, cross-border."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from conftest import ApiCtx, simple_workflow
from governance_support import count_rows, insert_runs

from engine.db import session_scope
from engine.models import (
    ApiToken,
    AuditLog,
    Connection,
    Membership,
    Run,
    Step,
    StepRun,
    Trigger,
    Usage,
    Workflow,
    Workspace,
)


def _wait_export(api: ApiCtx, export_id: str, role: str = "owner") -> dict:
    from engine.services.exports import run_export_duty

    run_export_duty()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/exports/{export_id}", role=role).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError("export did not finish")


def test_export_over_the_api_is_for_the_requester_only(api: ApiCtx) -> None:
    wf = api.create_workflow()
    api.post(f"/api/v1/workflows/{wf['id']}/runs", {"payload": {"email": "jo@example.com"}})
    r = api.post("/api/v1/exports", {"scope": "workspace"})
    assert r.status_code == 202, r.text
    export_id = r.json()["id"]
    assert r.headers["Location"] == f"/api/v1/exports/{export_id}"
    done = _wait_export(api, export_id)
    assert done["status"] == "succeeded" and done["progress"]["percent"] == 100
    download = api.get(done["download_url"])
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        assert "manifest.json" in zf.namelist()
    # Another workspace, and another token of the same workspace: 404, like a missing export.
    for path in (f"/api/v1/exports/{export_id}", done["download_url"]):
        assert api.get(path, tenant=api.b).status_code == 404
        assert api.get(path, role="admin").status_code == 404
    assert api.get("/api/v1/exports/nope").status_code == 404
    # Editors cannot export the workspace; a token has no personal data to export.
    assert api.post("/api/v1/exports", {"scope": "workspace"}, role="editor").status_code == 403
    bad = api.post("/api/v1/exports", {"scope": "user"})
    assert bad.status_code == 422 and "scope" in bad.json()["error"]["fields"]
    assert api.get("/api/v1/exports").json()["items"][0]["id"] == export_id


def test_deleting_a_workspace_removes_everything(any_api: ApiCtx) -> None:
    api = any_api
    wf = api.create_workflow(simple_workflow(trigger={"type": "webhook", "config": {}}))
    hook = api.client.post(wf["trigger"]["webhook_path"], json={"email": "jo@example.com"})
    assert hook.status_code == 202, hook.text
    api.post("/api/v1/connections", {"type": "slack", "name": "alerts",
                                     "secret": {"webhook_url": "https://hooks.example.test/x"}})
    insert_runs(api.a.id, wf["id"], 2600, steps_per_run=2)
    insert_runs(api.a.id, wf["id"], 3, status="queued")
    b_wf = api.create_workflow(tenant=api.b)
    before_b = count_rows(Run, Run.workspace_id == api.b.id), count_rows(AuditLog, AuditLog.workspace_id == api.b.id)
    name = "Alpha"
    wrong = api.post("/api/v1/data/workspace/delete", {"confirm_name": "alpha"})
    assert wrong.status_code == 422 and "confirm_name" in wrong.json()["error"]["fields"]
    assert api.post("/api/v1/data/workspace/delete", {"confirm_name": name}, role="admin").status_code == 403
    r = api.post("/api/v1/data/workspace/delete", {"confirm_name": name})
    assert r.status_code == 200, r.text
    deleted = r.json()["deleted"]
    assert deleted["runs"] == 2604 and deleted["step_runs"] >= 5200 and deleted["runs_cancelled"] >= 3
    # Webhook URL 404, every token 401, every row gone; the other workspace untouched.
    assert api.client.post(wf["trigger"]["webhook_path"], json={}).status_code == 404
    for role in ("owner", "admin", "editor", "viewer"):
        assert api.get("/api/v1/workflows", role=role).status_code == 401
    for model in (Run, Workflow, Trigger, Connection, Usage, ApiToken, AuditLog, Membership):
        assert count_rows(model, model.workspace_id == api.a.id) == 0, model.__name__
    assert count_rows(Workspace, Workspace.id == api.a.id) == 0
    assert count_rows(Step, Step.workflow_id == wf["id"]) == 0
    assert count_rows(StepRun) == count_rows(StepRun, StepRun.run_id.in_(
        __import__("sqlalchemy").select(Run.id).where(Run.workspace_id == api.b.id)))
    assert (count_rows(Run, Run.workspace_id == api.b.id), count_rows(AuditLog, AuditLog.workspace_id == api.b.id)) \
        == before_b
    assert api.get(f"/api/v1/workflows/{b_wf['id']}", tenant=api.b).status_code == 200
    # The tombstone: outside any workspace, who and how much, no personal data.
    from sqlmodel import select

    with session_scope() as session:
        tomb = session.exec(select(AuditLog).where(AuditLog.action == "workspace.delete")).one()
    assert tomb.workspace_id is None and tomb.object_id == api.a.id and tomb.actor.startswith("token:")
    assert tomb.changes["deleted"]["runs"] == 2604 and tomb.changes["name"] == "Alpha"


def _user_with_cookie(email: str, workspace_id: str, role: str = "owner") -> str:
    from engine.models import User
    from engine.services.accounts import create_user
    from engine.services.sessions import start_session

    with session_scope() as session:
        user = create_user(session, email, "correct horse battery", session.get(Workspace, workspace_id), role=role,
                           name="Sam Sole")
        return start_session(session, session.get(User, user.id), workspace_id)


def test_a_sole_owner_must_transfer_first_then_is_pseudonymised(api: ApiCtx) -> None:
    from engine.services.sessions import COOKIE_NAME

    owner = _user_with_cookie("sam@alpha.example", api.a.id)
    colleague = _user_with_cookie("kim@alpha.example", api.a.id, role="editor")
    cookies = {COOKIE_NAME: owner}
    origin = {"Origin": "http://localhost:3000"}

    def delete(password: str, cookie: str = owner) -> object:
        return api.client.post("/api/v1/data/account/delete", json={"password": password},
                               cookies={COOKIE_NAME: cookie}, headers=origin)

    assert delete("wrong password").status_code == 422
    blocked = delete("correct horse battery")
    assert blocked.status_code == 403 and "only owner of Alpha" in blocked.json()["error"]["message"]
    assert "make another member owner" in blocked.json()["error"]["message"]
    # Transfer ownership (as the owner, through the services), then it works.
    from sqlmodel import select

    from engine.models import User
    from engine.services import workspaces
    from engine.services.accounts import actor_for_user

    with session_scope() as session:
        sam = session.exec(select(User).where(User.email == "sam@alpha.example")).one()
        kim = session.exec(select(User).where(User.email == "kim@alpha.example")).one()
        actor = actor_for_user(session, sam, api.a.id)
        workspaces.set_member_role(session, actor, kim.id, "owner")
        sam_id = sam.id
    mine = api.client.post("/api/v1/exports", json={"scope": "user"}, cookies=cookies, headers=origin)
    assert mine.status_code == 202, mine.text
    from engine.services.exports import run_export_duty

    assert run_export_duty() == 1
    r = delete("correct horse battery")
    assert r.status_code == 200, r.text
    assert r.json()["exports_deleted"] == 1
    pseudonym = r.json()["pseudonym"]
    assert pseudonym.startswith("deleted-user-") and len(pseudonym) == len("deleted-user-") + 12
    from engine.services.deletion import pseudonym_for

    assert pseudonym_for(sam_id) == pseudonym  # stable
    with session_scope() as session:
        rows = session.exec(select(AuditLog)).all()
        assert not [row for row in rows if "sam@alpha.example" in row.actor + str(row.changes)]
        assert [row for row in rows if row.actor == f"user:{pseudonym}" and row.action == "member.role"]
        assert [row for row in rows if row.changes.get("email") == pseudonym and row.action == "member.add"]
        assert session.exec(select(User).where(User.email == "sam@alpha.example")).first() is None
    # The session is gone with the account; the colleague still works.
    assert api.client.get("/api/v1/workflows", cookies=cookies).status_code == 401
    assert api.client.get("/api/v1/workflows", cookies={COOKIE_NAME: colleague}).status_code == 200


def test_the_only_member_must_delete_the_workspace_first(api: ApiCtx) -> None:
    from engine.services.sessions import COOKIE_NAME

    with session_scope() as session:
        for m in session.exec(__import__("sqlmodel").select(Membership).where(Membership.workspace_id == api.b.id)):
            session.delete(m)
    solo = _user_with_cookie("solo@beta.example", api.b.id)
    r = api.client.post("/api/v1/data/account/delete", json={"password": "correct horse battery"},
                        cookies={COOKIE_NAME: solo}, headers={"Origin": "http://localhost:3000"})
    assert r.status_code == 403 and "only member of Beta: delete the workspace" in r.json()["error"]["message"]


def test_erasure_and_cross_border_over_the_api(api: ApiCtx) -> None:
    wf = api.create_workflow()
    insert_runs(api.a.id, wf["id"], 3, payload={"email": "Jo@Example.com", "note": "call 0412 345 678"})
    preview = api.post("/api/v1/data/erasure/preview", {"subject": "jo@example.com"})
    assert preview.json() == {"kind": "email", "runs": 3, "values": 3}
    assert api.post("/api/v1/data/erasure", {"subject": "jo@example.com"}, role="editor").status_code == 403
    bad = api.post("/api/v1/data/erasure", {"subject": "not anything"})
    assert bad.status_code == 422 and "subject" in bad.json()["error"]["fields"]
    done = api.post("/api/v1/data/erasure", {"subject": "+61 412 345 678"})
    assert done.json() == {"kind": "phone", "runs": 3, "values": 3}
    assert api.post("/api/v1/data/erasure/preview", {"subject": "0412345678"}).json()["runs"] == 0
    api.post("/api/v1/connections", {"type": "twilio", "name": "twilio", "config": {"account_sid": "AC1"},
                                     "secret": {"auth_token": "t"}})
    api.create_workflow({"name": "Text them", "trigger": {"type": "webhook", "config": {}},
                         "steps": [{"key": "sms", "action": "sms.send",
                                    "config": {"connection": "twilio", "to": "+61412345678", "body": "hi"}}]})
    flows = api.get("/api/v1/data/cross-border").json()
    assert flows["workspace_region"] == "au"
    assert [(f["workflow_name"], f["step_key"], f["location"]) for f in flows["items"]] == [("Text them", "sms", "us")]
    retention = api.get("/api/v1/data/retention").json()
    assert retention["retention_days"] == 30 and retention["runs_to_prune"] == 0


def test_a_local_export_folder_is_in_the_deployment_region(api_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWMATE_DATA_REGION", "au-syd")
    api = api_factory()
    r = api.post("/api/v1/exports", {"scope": "workspace"})
    assert r.status_code == 202 and r.json()["storage_region"] == "au-syd"
