"""Helpers for the deployment tests: the commands the deployment files run, and running them.

The compose file and the systemd units are the source of truth for how FlowMate is started in
production; these helpers read the commands out of them, so a test that starts "the web app" or
"a worker" starts exactly what a deployment would.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def compose_command(service: str) -> list[str]:
    """The argv a compose service runs (its ``command``, after the image's entry point)."""
    command = compose()["services"][service]["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def unit_exec_start(unit: str) -> list[str]:
    """The argv of a systemd unit's ExecStart= (single line, no continuation)."""
    for line in (REPO / "deploy" / "systemd" / unit).read_text().splitlines():
        if line.startswith("ExecStart="):
            return shlex.split(line.removeprefix("ExecStart="))
    raise AssertionError(f"{unit} has no ExecStart=")


def local_argv(argv: list[str]) -> list[str]:
    """Run a deployment command from this checkout's venv (``flowmate`` / ``reflex`` on PATH there)."""
    program = Path(argv[0]).name
    resolved = VENV_BIN / program
    if not resolved.exists():
        raise AssertionError(f"{argv[0]} is not installed in the venv ({resolved} missing)")
    return [str(resolved), *argv[1:]]


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option``'s value replaced (or appended): e.g. a free port for a test."""
    out = list(argv)
    if option in out:
        out[out.index(option) + 1] = value
    else:
        out += [option, value]
    return out


def base_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a FlowMate process: nothing inherited from FLOWMATE_/REFLEX_ vars."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWMATE_", "REFLEX_", "GRANIAN_"))}
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update({
        "PYTHONUNBUFFERED": "1", "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "0",
        "REFLEX_WEB_WORKDIR": str(tmp / "web"), "REFLEX_STATES_WORKDIR": str(tmp / "states"),
        "FLOWMATE_ENV": "test", "FLOWMATE_LOG_FORMAT": "json", "FLOWMATE_LOG_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


class Procs:
    """Processes a test started, each in its own session, all stopped in ``close()``."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.items: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str],
              prefix: list[str] | None = None) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen([*(prefix or []), *argv], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.items.append((name, proc))
        return proc

    def log(self, name: str, tail: int = 3000) -> str:
        path = self.logdir / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else "(no log)"

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def close(self) -> None:
        for _, proc in reversed(self.items):
            with contextlib.suppress(ProcessLookupError):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in reversed(self.items):
            self.kill(proc)


def wait_healthy(base: str, proc: subprocess.Popen, describe: Callable[[], str], timeout: float = 120,
                 accept: Callable[[dict], bool] | None = None) -> dict:
    """Poll ``/api/health`` until it answers (and ``accept`` likes it); fail with the log otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            r = httpx.get(base + "/api/health", timeout=3)
            last = r.json()
            if accept(last) if accept else r.status_code == 200:
                return last
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{base}/api/health never became ready (last: {last!r}):\n{describe()}")
        time.sleep(0.3)
