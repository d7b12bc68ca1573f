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


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20,
             leader_only: bool = False) -> bool:
        """Send ``sig`` to the process's whole group, or with ``leader_only`` to the process alone,
        as ``docker stop`` (PID 1) and systemd's ``KillMode=mixed`` (our units) do: a server that
        manages worker processes (Granian, ``flowmate worker``) must stop them itself, and a
        worker signalled directly looks to its master like a crash. SIGKILL for the group after
        ``timeout``, and for what the leader left behind; returns whether it left any (after 5 s)."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                (os.kill if leader_only else os.killpg)(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        if not leader_only:
            return False
        deadline = time.monotonic() + 5
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _group_alive(proc.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return left

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


class Balancer:
    """A TCP load balancer in front of web replicas: every new connection goes to ``target``.

    ``fail_over(port)`` is what a balancer does when a replica dies: new connections go to the
    other replica and the connections it held are gone (the browser's websocket reconnects).
    """

    def __init__(self, target_port: int) -> None:
        import asyncio
        import threading

        self.target_port = target_port
        self._closed_until = 0.0
        self.loop = asyncio.new_event_loop()
        self._writers: set[Any] = set()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)

    async def _start(self) -> int:
        import asyncio

        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: Any, writer: Any) -> None:
        import asyncio

        if time.monotonic() < self._closed_until:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        pair = {writer, up_writer}
        self._writers |= pair

        async def pipe(src: Any, dst: Any) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)
        self._writers -= pair

    def fail_over(self, target_port: int, gap: float = 0.0) -> None:
        """Send new connections to ``target_port``, after refusing them for ``gap`` seconds."""
        import asyncio

        async def switch() -> None:
            self.target_port = target_port
            self._closed_until = time.monotonic() + gap
            for w in list(self._writers):
                with contextlib.suppress(Exception):
                    w.close()

        asyncio.run_coroutine_threadsafe(switch(), self.loop).result(timeout=10)

    def close(self) -> None:
        import asyncio

        async def stop() -> None:
            self._server.close()
            for w in list(self._writers):
                with contextlib.suppress(Exception):
                    w.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


# The root conftest's helpers, reachable from any test folder (``from conftest import`` would
# find tests/api/conftest.py instead when that folder is collected first).
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get("FLOWMATE_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI."""
    import pytest

    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def reset_engine_state() -> None:
    from engine.config import get_settings
    from engine.db import dispose_engines
    from engine.queue import reset_broker

    reset_broker()
    dispose_engines()
    get_settings.cache_clear()
