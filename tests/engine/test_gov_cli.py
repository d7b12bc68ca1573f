"""The governance commands as an operator runs them: export, erase, retention, delete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.services.exports import verify_archive

REPO = Path(__file__).resolve().parents[2]


def test_export_erase_retention_and_delete_from_the_shell(tmp_path: Path) -> None:
    env = {**os.environ, "FLOWMATE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "FLOWMATE_EXPORT_DIR": str(tmp_path / "exports")}
    env.pop("FLOWMATE_REDIS_URL", None)
    env.pop("FLOWMATE_DATA_REGION", None)

    def cli(*args: str, code: int = 0) -> dict:
        out = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == code, (args, out.stdout, out.stderr)
        return json.loads(out.stdout) if out.stdout.strip() else json.loads(out.stderr.strip().splitlines()[-1])

    cli("db", "upgrade")
    cli("workspaces", "create", "Bondi Bakery")
    cli("users", "create", "jo@bondi.example", "--password", "correct horse battery", "--workspace", "bondi-bakery")
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({"name": "Log", "trigger": {"type": "manual", "config": {}},
                              "steps": [{"key": "log", "action": "core.log", "config": {"message": "hi"}}]}))
    wf_id = cli("workflows", "import", str(wf), "--workspace", "bondi-bakery")["id"]
    cli("run", wf_id, "--payload", '{"email": "ann@example.com"}', "--wait")

    done = cli("export", "--workspace", "bondi-bakery", "--out", str(tmp_path / "ws.zip"))
    assert done["counts"]["runs"] == 1 and done["export"]["status"] == "succeeded"
    assert verify_archive(tmp_path / "ws.zip")["counts"]["workflows"] == 1
    mine = cli("export", "--user", "jo@bondi.example", "--out", str(tmp_path / "jo.zip"))
    assert mine["counts"]["profile"] == 1 and verify_archive(tmp_path / "jo.zip")["scope"] == "user"
    assert cli("export", "--user", "nobody@x.example", "--out", str(tmp_path / "n.zip"), code=2)["error"]

    assert cli("erase", "ann@example.com", "--workspace", "bondi-bakery")["dry_run"] is True
    assert cli("erase", "ann@example.com", "--workspace", "bondi-bakery", "--yes")["runs"] == 1
    assert cli("erase", "nonsense", "--workspace", "bondi-bakery", code=2)["error"]["fields"]["subject"]
    assert cli("retention", "run")["workspaces"] == 1

    blocked = cli("users", "delete", "jo@bondi.example", "--password", "correct horse battery", code=2)
    assert "delete the workspace" in blocked["error"]["message"]
    cli("workspaces", "delete", "bondi-bakery", "--confirm", "Wrong", code=2)
    assert cli("workspaces", "delete", "bondi-bakery", "--confirm", "Bondi Bakery")["counts"]["runs"] == 1
    assert cli("users", "delete", "jo@bondi.example", "--password", "correct horse battery")["pseudonym"]
    report = cli("residency", "report")
    assert report["database"]["recorded_region"] == "local" and report["workspaces_by_region"] == {}
