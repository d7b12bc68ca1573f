"""The deployment files, checked statically (no container engine or systemd runs here).

- compose.yaml: interpolated the way `docker compose config` does, then parsed by the
  compose-spec validator (the Compose specification's types and keys), plus the references
  compose itself checks (depends_on targets, named volumes) and the layout the docs promise;
- every FLOWMATE_* setting is documented in compose.yaml, the env example and docs/deploy.md,
  and every FLOWMATE_* name written there is a real setting;
- the Dockerfile: multi-stage, non-root, HEALTHCHECK on /api/health, frontend built in the build
  stage, the same web command as compose;
- the systemd units pass `systemd-analyze verify` (pointed at this checkout) and the worker has
  the lower CPUWeight;
- every command compose.yaml and the units run exists and starts (PostgreSQL + Redis), and the
  frontend build the Dockerfile runs produces a UI that the web command serves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml
from compose_spec import PyCompose
from deploy_support import (
    REPO,
    VENV_BIN,
    Procs,
    base_env,
    compose,
    compose_command,
    free_port,
    local_argv,
    unit_exec_start,
    wait_healthy,
    with_option,
)
from support import wait_for

UNITS = ["flowmate-migrate.service", "flowmate-web.service", "flowmate-worker.service", "flowmate-scheduler.service"]
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^}]*\})*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: ${V}, ${V:-default}, ${V-default}, ${V:?error}, $$."""

    def sub(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            return value if value or (op == "-" and value is not None) else interpolate(arg, env)
        if op in (":?", "?"):
            if not value:
                raise ValueError(f"required variable {name} is missing a value: {arg}")
            return value
        return value or ""

    return _VAR.sub(sub, text)


def validate(text: str) -> dict:
    """YAML (merge keys resolved, as compose does) -> the compose-spec validator -> normalised dict."""
    return PyCompose.from_json(json.dumps(yaml.safe_load(text))).to_dict()


COMPOSE_ENV = {"FLOWMATE_SECRET_KEY": "x" * 40, "POSTGRES_PASSWORD": "pw"}


def settings_names() -> set[str]:
    """Settings' fields, and the app credentials of every OAuth provider Connect knows
    (``FLOWMATE_OAUTH_<PROVIDER>_CLIENT_ID`` / ``_CLIENT_SECRET``, read by engine.oauth.flows)."""
    from engine.config import Settings
    from engine.oauth.providers import all_flows

    names = {f"FLOWMATE_{name.upper()}" for name in Settings.model_fields}
    for flow in all_flows().values():
        names |= {f"{flow.env_prefix}CLIENT_ID", f"{flow.env_prefix}CLIENT_SECRET"}
    return names


def test_compose_file_validates_against_the_compose_spec() -> None:
    text = (REPO / "compose.yaml").read_text()
    with pytest.raises(ValueError, match="FLOWMATE_SECRET_KEY"):
        interpolate(text, {"POSTGRES_PASSWORD": "pw"})
    parsed = validate(interpolate(text, COMPOSE_ENV))
    services = parsed["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "scheduler"} <= set(services)

    for name, service in services.items():
        for target in service.get("depends_on", {}):
            assert target in services, f"{name} depends on an undefined service {target}"
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source")
            if source and not source.startswith((".", "/")):
                assert source in parsed.get("volumes", {}), f"{name} mounts undeclared volume {source}"

    for name in ("postgres", "redis", "web", "worker", "scheduler"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert services["postgres"]["volumes"] and services["redis"]["volumes"], "data must live in volumes"
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["worker"]["cpu_shares"] < 1024, "workers get less CPU weight than the web app"
    for name in ("web", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert compose_command("migrate") == ["flowmate", "db", "upgrade"]
    assert "/api/health" in " ".join(services["web"]["healthcheck"]["test"])
    env = services["web"]["environment"]
    assert env["FLOWMATE_SECRET_KEY"] == "x" * 40 and env["FLOWMATE_ENV"] == "production"
    assert env["FLOWMATE_DATABASE_URL"].startswith("postgresql://flowmate:pw@postgres:5432/")


def test_compose_spec_check_rejects_a_broken_file() -> None:
    """The validator is not a yes-machine: a typo'd key and a wrong value type are refused."""
    good = interpolate((REPO / "compose.yaml").read_text(), COMPOSE_ENV)
    with pytest.raises(ValueError, match="tset"):
        validate(good.replace("    healthcheck:\n      test: [\"CMD\", \"pg_isready\"",
                                         "    healthcheck:\n      tset: [\"CMD\", \"pg_isready\"", 1))
    with pytest.raises(ValueError):
        validate(good.replace("replicas: 2", "replicas: two", 1))


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    names = settings_names()
    for path in ("compose.yaml", "deploy/flowmate.env.example", "docs/deploy.md"):
        text = (REPO / path).read_text()
        mentioned = set(re.findall(r"FLOWMATE_[A-Z0-9_]+", text))
        missing = names - mentioned
        assert not missing, f"{path} does not document {sorted(missing)}"
        unknown = {m for m in mentioned if m not in names and not any(n.startswith(m) for n in names)}
        assert not unknown, f"{path} mentions settings that do not exist: {sorted(unknown)}"
    example = (REPO / "deploy/flowmate.env.example").read_text()
    assigned = set(re.findall(r"^(FLOWMATE_[A-Z0-9_]+)=", example, re.M))
    assert assigned == names, "the env example sets every setting exactly"


def test_the_env_example_loads_and_its_empty_values_mean_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copied as it is (plus a secret key), the example starts; ``FLOWMATE_X=`` leaves X at its default."""
    from engine.config import Settings

    example = (REPO / "deploy/flowmate.env.example").read_text()
    values = dict(re.findall(r"^(FLOWMATE_[A-Z0-9_]+)=(.*)$", example, re.M))
    for name in list(os.environ):
        if name.startswith("FLOWMATE_"):
            monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value.strip('"'))
    monkeypatch.setenv("FLOWMATE_SECRET_KEY", "s" * 40)
    loaded, defaults = Settings(_env_file=None), Settings.model_fields
    for name, value in values.items():
        field = name.removeprefix("FLOWMATE_").lower()
        if value == "" and field in defaults and field != "secret_key":  # the one the operator must set
            assert getattr(loaded, field) == defaults[field].get_default(call_default_factory=True), name
    assert loaded.metrics_token is None and loaded.smtp_url is None and loaded.signup_mode == "invite"


def _stages(dockerfile: str) -> list[str]:
    return re.split(r"^FROM ", dockerfile, flags=re.M)[1:]


def test_dockerfile_is_multi_stage_non_root_with_a_health_check_and_a_prebuilt_frontend() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = _stages(text)
    assert len(stages) >= 2, "multi-stage"
    build, runtime = stages[0], stages[-1]
    assert "reflex export --frontend-only" in build and "index.html" in build
    assert "COPY --from=build" in runtime and "npm" not in runtime and "bun" not in runtime
    users = re.findall(r"^USER (\S+)", runtime, re.M)
    assert users and users[-1] not in ("root", "0"), "the image runs as an unprivileged user"
    health = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])", text, re.M | re.S)
    assert health and "/api/health" in health.group(1)
    cmd = json.loads(re.search(r"^CMD (\[.*\])", runtime, re.M).group(1))
    assert cmd == compose_command("web"), "the image's default command is the compose web command"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", ".web"} <= set(ignored)


def _units_for_this_checkout(tmp_path: Path) -> Path:
    """The units with the install paths pointed at this checkout (and root, which exists here)."""
    out = tmp_path / "units"
    out.mkdir()
    (tmp_path / "flowmate.env").write_text("")
    for unit in UNITS:
        text = (REPO / "deploy/systemd" / unit).read_text()
        text = text.replace("/opt/flowmate/.venv/bin/", f"{VENV_BIN}/").replace("/opt/flowmate", str(REPO))
        text = text.replace("/etc/flowmate/flowmate.env", str(tmp_path / "flowmate.env"))
        text = re.sub(r"^(User|Group)=flowmate$", r"\1=root", text, flags=re.M)
        (out / unit).write_text(text)
    return out


def test_systemd_units_verify_and_the_worker_yields_cpu(tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is missing (apt-get install systemd)", pytrace=False)
    units = _units_for_this_checkout(tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *[str(units / u) for u in UNITS]],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    weights = {}
    for unit in UNITS:
        match = re.search(r"^CPUWeight=(\d+)$", (REPO / "deploy/systemd" / unit).read_text(), re.M)
        weights[unit] = int(match.group(1)) if match else 100
    assert weights["flowmate-worker.service"] < weights["flowmate-web.service"]
    for unit in UNITS:
        text = (REPO / "deploy/systemd" / unit).read_text()
        assert "User=flowmate" in text and "EnvironmentFile=/etc/flowmate/flowmate.env" in text
    # Same programs as compose (paths and listen address aside).
    assert [Path(a).name if i == 0 else a for i, a in enumerate(unit_exec_start("flowmate-scheduler.service"))] \
        == compose_command("scheduler")
    assert unit_exec_start("flowmate-web.service")[1:3] == compose_command("web")[1:3]


def _distinct_commands() -> dict[str, list[str]]:
    """Every long-running command compose.yaml and the units run, by a short name."""
    return {
        "compose-web": compose_command("web"),
        "compose-worker": compose_command("worker"),
        "compose-scheduler": compose_command("scheduler"),
        "unit-web": unit_exec_start("flowmate-web.service"),
        "unit-worker": unit_exec_start("flowmate-worker.service"),
        "unit-scheduler": unit_exec_start("flowmate-scheduler.service"),
    }


@pytest.mark.integration
def test_every_deployment_command_exists_and_starts(pg_db: str, redis_env: dict[str, str], tmp_path: Path) -> None:
    env = base_env(tmp_path, FLOWMATE_DATABASE_URL=pg_db, FLOWMATE_HEARTBEAT_SECONDS="1", **redis_env)
    # The one-shot commands: migrations (compose `migrate`, the migrate unit) and the checks.
    for argv in (compose_command("migrate"), unit_exec_start("flowmate-migrate.service")):
        done = subprocess.run(local_argv(argv), cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    procs = Procs(tmp_path)
    ports: dict[str, int] = {}
    try:
        for name, argv in _distinct_commands().items():
            argv = local_argv(argv)
            if name.endswith("web"):
                ports[name] = free_port()
                argv = with_option(with_option(argv, "--port", str(ports[name])), "--host", "127.0.0.1")
                argv.append("--backend-only")  # the built frontend is covered by the next test
            procs.start(name, argv, {**env, "FLOWMATE_BASE_URL": f"http://127.0.0.1:{ports.get(name, 3000)}"})
        for name, port in ports.items():
            proc = dict(procs.items)[name]
            health = wait_healthy(f"http://127.0.0.1:{port}", proc, lambda n=name: procs.log(n),
                                  accept=lambda h: (h.get("workers_alive") or 0) >= 3)
            assert health["status"] == "ok" and health["checks"]["queue"]["detail"] == "redis"
        # compose-worker runs 1 process, unit-worker 2: three heartbeats from this host.
        assert len(health["workers"]) == 3
        time.sleep(2)
        for name, proc in procs.items:
            assert proc.poll() is None, f"{name} exited early:\n{procs.log(name)}"
        # The health checks compose runs (worker, scheduler, web) pass against the live processes.
        for argv in (compose()["services"]["worker"]["healthcheck"]["test"][1:],
                     compose()["services"]["scheduler"]["healthcheck"]["test"][1:],
                     with_option(compose()["services"]["web"]["healthcheck"]["test"][1:], "--url",
                                 f"http://127.0.0.1:{ports['compose-web']}/api/health")):
            done = subprocess.run(local_argv(argv), cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
        # And they fail when what they check is gone: stop the workers, the worker check says so.
        for name, proc in procs.items:
            if name.endswith("worker"):
                left = procs.kill(proc, leader_only=True)  # as docker stop and KillMode=mixed signal it
                assert not left, f"{name} left processes behind when it stopped"
                assert proc.returncode == 0, f"{name} did not stop cleanly on SIGTERM:\n{procs.log(name)}"
        wait_for(lambda: subprocess.run(local_argv(["flowmate", "health", "--worker"]), cwd=REPO, env=env,
                                        capture_output=True, timeout=60).returncode == 1, timeout=30, interval=1)
        for name, proc in procs.items:
            left = procs.kill(proc, leader_only=True)
            assert not left, f"{name} left processes behind when it stopped:\n{procs.log(name)}"
            assert proc.returncode in (0, -15), f"{name} exited {proc.returncode} on SIGTERM:\n{procs.log(name)}"
    finally:
        procs.close()


def test_the_dockerfile_frontend_build_is_served_by_the_web_command(sqlite_db: str, tmp_path: Path) -> None:
    """Run the Dockerfile's frontend build step here, then the image's CMD on its output."""
    step = re.search(r"^RUN (REFLEX_API_URL=\S+).*?\n\s*reflex export ([^\n&\\]+)", (REPO / "Dockerfile").read_text(),
                     re.M | re.S)
    assert step, "the Dockerfile builds the frontend with reflex export"
    api_var, export_args = step.group(1).split("=", 1), step.group(2).split()
    port = free_port()
    env = base_env(tmp_path, FLOWMATE_DATABASE_URL=sqlite_db, FLOWMATE_BASE_URL=f"http://127.0.0.1:{port}")
    env[api_var[0]] = api_var[1]
    env["REFLEX_BUN_PATH"] = os.environ.get("REFLEX_BUN_PATH") or str(REPO / ".tools/node_modules/bun/bin/bun.exe")
    built = subprocess.run([str(VENV_BIN / "reflex"), "export", *export_args], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=400)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    web_dir = Path(env["REFLEX_WEB_WORKDIR"])
    assert (web_dir / "build/client/index.html").exists()
    assert json.loads((web_dir / "env.json").read_text())["EVENT"] == "ws://localhost:3000/_event"

    procs = Procs(tmp_path)
    try:
        argv = with_option(with_option(local_argv(compose_command("web")), "--port", str(port)), "--host", "127.0.0.1")
        proc = procs.start("web", argv, env)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc, lambda: procs.log("web"))
        for path in ("/", "/login"):
            page = httpx.get(base + path, timeout=10, follow_redirects=True)
            assert page.status_code == 200 and "<html" in page.text.lower(), (path, page.status_code)
        assert httpx.get(base + "/api/health", timeout=10).json()["status"] == "ok"
    finally:
        procs.close()
    # Without a built frontend the web command says what to do instead of serving blank pages.
    shutil.rmtree(web_dir / "build")
    refused = subprocess.run(local_argv(compose_command("web")), cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 2 and "reflex export --frontend-only" in refused.stderr
