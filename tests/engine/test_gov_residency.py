"""Data residency: the recorded region gates every process; regions served; provider locations."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from governance_support import reset_engine_state

from engine.db import session_scope
from engine.errors import ValidationFailed
from engine.services.actor import Actor

REPO = Path(__file__).resolve().parents[2]


def _cli(url: str, region: str, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLOWMATE_DATABASE_URL": url, "FLOWMATE_DATA_REGION": region, **(extra or {})}
    env.pop("FLOWMATE_REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_database_created_for_au_syd_refuses_us_east_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'syd.db'}"
    created = _cli(url, "au-syd", "db", "upgrade")
    assert created.returncode == 0, created.stderr
    assert _cli(url, "au-syd", "workspaces", "create", "Bondi Bakery").returncode == 0
    for args in (["workflows", "list", "--workspace", "bondi-bakery"], ["worker"], ["scheduler"],
                 ["db", "upgrade"], ["export", "--workspace", "bondi-bakery", "--out", str(tmp_path / "x.zip")]):
        out = _cli(url, "us-east", *args, extra={"FLOWMATE_REDIS_URL": "redis://127.0.0.1:1/0"}
                   if args == ["worker"] else None)
        assert out.returncode == 78, (args, out.stderr)
        assert "'au-syd'" in out.stderr and "'us-east'" in out.stderr and "Refusing to start" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    assert not (tmp_path / "x.zip").exists()
    ok = _cli(url, "au-syd", "workflows", "list", "--workspace", "bondi-bakery")
    assert ok.returncode == 0, ok.stderr
    # The diagnostic report still prints, and says the regions do not match.
    report = _cli(url, "us-east", "residency", "report")
    assert report.returncode == 0 and json.loads(report.stdout)["region_matches"] is False


def test_an_unknown_region_is_refused_at_start_up(tmp_path: Path) -> None:
    out = _cli(f"sqlite:///{tmp_path / 'x.db'}", "mars-1", "db", "upgrade")
    assert out.returncode != 0 and "FLOWMATE_DATA_REGION" in out.stderr and "au-syd" in out.stderr


def test_the_web_process_refuses_to_start_on_a_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'syd.db'}"
    assert _cli(url, "au-syd", "db", "upgrade").returncode == 0
    monkeypatch.setenv("FLOWMATE_DATABASE_URL", url)
    monkeypatch.setenv("FLOWMATE_DATA_REGION", "us-east")
    reset_engine_state()
    import flowmate_app.lifespan as lifespan
    from flowmate_app.lifespan import on_startup

    # Logging is configured once per process; binding it to pytest's captured stderr here would
    # leave every later test logging into a closed stream.
    monkeypatch.setattr(lifespan, "configure_logging", lambda: None)

    try:
        with pytest.raises(SystemExit) as info:
            asyncio.run(on_startup(None))
        assert info.value.code == 78
        err = capsys.readouterr().err
        assert "flowmate web: data region mismatch" in err and "'au-syd'" in err and "'us-east'" in err
    finally:
        reset_engine_state()


def test_workspaces_only_in_served_regions(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("FLOWMATE_DATA_REGION", "au-mel")
    request.getfixturevalue("sqlite_db")
    from engine.services import workspaces
    from engine.services.accounts import create_workspace

    with session_scope() as session:
        ws = create_workspace(session, "Fitzroy Florist")
        assert ws.data_region == "au"
        with pytest.raises(ValidationFailed) as info:
            create_workspace(session, "Elsewhere", data_region="us")
        assert "au-mel" in info.value.fields["data_region"]
        with pytest.raises(ValidationFailed) as info:
            workspaces.update_settings(session, Actor.system(ws.id), {"data_region": "eu"})
        assert "au only" in info.value.fields["data_region"]


def test_provider_locations_and_notices(sqlite_db: str, workspace: dict) -> None:
    from engine.services.connections import create_connection
    from engine.services.residency import connection_notices, notice_text, provider_location

    assert [provider_location(t) for t in ("clicksend", "twilio", "hubspot", "slack", "smtp", "http")] == [
        "au", "us", "us", "us", "unknown", "unknown"]
    assert provider_location("smtp", {"data_location": "au"}) == "au"
    assert notice_text("au", "au", "ClickSend") is None
    assert "Australian Privacy Principle 8" in notice_text("au", "us", "Twilio")
    actor = Actor.system(workspace["id"])
    with session_scope() as session:
        for raw in ({"type": "twilio", "name": "tw", "config": {"account_sid": "AC"}, "secret": {"auth_token": "x"}},
                    {"type": "clicksend", "name": "cs", "config": {"username": "u"}, "secret": {"api_key": "x"}},
                    {"type": "smtp", "name": "mail-au", "config": {"host": "smtp.example", "from_email": "a@b.co",
                                                                   "data_location": "au"}},
                    {"type": "smtp", "name": "mail", "config": {"host": "smtp.example", "from_email": "a@b.co"}}):
            create_connection(session, actor, raw)
        with pytest.raises(ValidationFailed) as info:
            create_connection(session, actor, {"type": "http", "name": "h", "config": {
                "auth_type": "none", "data_location": "moon"}})
        assert "config.data_location" in info.value.fields
    with session_scope() as session:
        notices = connection_notices(session, actor)
    assert {k for k in notices if k in ("tw", "cs", "mail-au", "mail")} == {"tw", "mail"}
    assert "United States" in notices["tw"] and "unknown" in notices["mail"]


def test_the_report_lists_every_store(sqlite_db: str, workspace: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.db import get_engine
    from engine.services.connections import create_connection
    from engine.services.residency import report

    with session_scope() as session:
        create_connection(session, Actor.system(workspace["id"]), {
            "type": "twilio", "name": "tw", "config": {"account_sid": "AC"}, "secret": {"auth_token": "x"}})
        create_connection(session, Actor.system(workspace["id"]), {
            "type": "smtp", "name": "m", "config": {"host": "h", "from_email": "a@b.co", "data_location": "au"}})
    monkeypatch.setenv("FLOWMATE_REDIS_URL", "redis://:Redis-Secret-9f3@cache.internal:6380/0")
    from engine.config import get_settings

    get_settings.cache_clear()
    out = report(get_engine())
    assert out["configured_region"] == "local" and out["region_matches"] is True
    assert out["database"]["dialect"] == "sqlite" and out["database"]["recorded_region"] == "local"
    assert out["queue"] == {"kind": "redis", "host": "cache.internal:6380"}  # never the password
    assert out["export_storage"]["kind"] == "local" and out["export_storage"]["region"] == "local"
    assert out["connection_types"] == [
        {"type": "smtp", "connections": 1, "data_locations": ["au"]},
        {"type": "twilio", "connections": 1, "data_locations": ["us"]}]
    assert "Redis-Secret-9f3" not in json.dumps(out)
