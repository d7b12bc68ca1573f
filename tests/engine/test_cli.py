"""The `flowmate` command as an operator uses it: JSON on stdout, exit 2 on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def flowmate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_cli_end_to_end(sqlite_db: str, tmp_path: Path) -> None:
    env = {**os.environ, "FLOWMATE_DATABASE_URL": sqlite_db}
    ws = json.loads(flowmate("workspaces", "create", "Bondi Bakery", env=env).stdout)
    assert ws["slug"] == "bondi-bakery"
    user = flowmate("users", "create", "owner@bondi.example", "--password", "correct horse", "--workspace",
                    "bondi-bakery", env=env)
    assert json.loads(user.stdout)["role"] == "owner"
    token = json.loads(flowmate("tokens", "create", "--workspace", "bondi-bakery", "--role", "viewer", env=env).stdout)
    assert token["token"].startswith("fm_") and token["role"] == "viewer"

    definition = {"name": "Order webhook", "trigger": {"type": "webhook", "config": {}}, "steps": [
        {"key": "greet", "action": "core.log", "config": {"message": "Order {{ trigger.payload.n }}"}},
        {"key": "twice", "action": "core.log", "config": {"message": "{{ steps.greet.output.message }}!"}}]}
    (tmp_path / "wf.json").write_text(json.dumps(definition))
    imported = json.loads(flowmate("workflows", "import", str(tmp_path / "wf.json"), "--workspace", "bondi-bakery",
                                   env=env).stdout)
    assert imported["webhook_path"].startswith("/hooks/") and len(imported["webhook_path"]) > 30

    listed = json.loads(flowmate("workflows", "list", "--workspace", "bondi-bakery", env=env).stdout)
    assert [w["id"] for w in listed["items"]] == [imported["id"]]
    exported = json.loads(flowmate("workflows", "export", imported["id"], env=env).stdout)
    assert exported["steps"][1]["config"]["message"] == "{{ steps.greet.output.message }}!"

    done = flowmate("run", imported["id"], "--payload", '{"n": 12}', "--wait", "--timeout", "30", env=env)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded"
    assert [s["key"] for s in run["steps"]] == ["greet", "twice"]
    assert run["steps"][1]["output"]["message"] == "Order 12!"
    assert set(run["steps"][0]) >= {"key", "status", "attempts", "output", "error", "started_at", "finished_at"}
    shown = json.loads(flowmate("runs", "show", run["id"], env=env).stdout)
    assert shown["id"] == run["id"] and shown["status"] == "succeeded"


def test_cli_bad_input_exits_2_with_a_message(sqlite_db: str, tmp_path: Path) -> None:
    env = {**os.environ, "FLOWMATE_DATABASE_URL": sqlite_db}
    assert flowmate("run", env=env).returncode == 2  # missing workflow id
    bad_payload = flowmate("run", "abc", "--payload", "{not json", env=env)
    assert bad_payload.returncode == 2 and "payload" in bad_payload.stderr
    missing = flowmate("runs", "show", "nope", env=env)
    assert missing.returncode == 2 and "not_found" in missing.stderr
    (tmp_path / "bad.json").write_text(json.dumps({"name": "x", "steps": [{"key": "1a", "action": "core.log"}]}))
    flowmate("workspaces", "create", "W", env=env)
    refused = flowmate("workflows", "import", str(tmp_path / "bad.json"), "--workspace", "w", env=env)
    assert refused.returncode == 2
    error = json.loads(refused.stderr.strip().splitlines()[-1])["error"]
    assert "steps.0.key" in error["fields"]
    assert refused.stdout == ""
