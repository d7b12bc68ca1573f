"""Browser tests against the real app: `reflex run --env prod` in a subprocess, driven by Chromium.

How the app is started (see ``app_server``):

- ``python -m reflex run --env prod --frontend-port P --backend-port P --backend-host 127.0.0.1``
  from the repository root, in its own process group. Prod serves the page, Reflex's websocket and
  our FastAPI routes on ONE port, so there is one URL to wait for and nothing to proxy.
- The compiled frontend goes to ``REFLEX_WEB_WORKDIR`` outside the work tree, so a developer's
  ``reflex run`` (which owns ``.web/``) and the tests never overwrite each other's build. That
  folder is a per-checkout cache (node_modules survive between sessions: a warm start takes
  seconds); if another test session holds it, this one builds in a fresh temporary folder.
- Disk state (``REFLEX_STATES_WORKDIR``), uploads and the SQLite database live in pytest's tmp
  folder; the database is migrated before the app starts. No Redis URL: embedded queue.

Set FLOWMATE_E2E_BASE_URL to test an app that is already running instead.
Under CI=true a missing Chromium or an app that does not start FAILS; locally it skips.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, DESKTOP

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# A cold first start installs the frontend packages (bun, from its cache or the registry).
START_TIMEOUT_S = float(os.environ.get("FLOWMATE_E2E_START_TIMEOUT", "240"))


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI (where Chromium and the app must always work)."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- app server


@dataclass
class AppServer:
    base_url: str
    database_url: str | None = None  # the app's FLOWMATE_DATABASE_URL (None for an external app)
    env: dict[str, str] = field(default_factory=dict)  # environment the app runs with (for CLI calls)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    memory_mb: dict[str, float] = field(default_factory=dict)

    def url(self, path: str = "/") -> str:
        return self.base_url.rstrip("/") + path

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``python -m engine.cli <args>`` against the app's database (like an operator would)."""
        if not self.database_url:
            pytest.skip("the app's database is not reachable from the tests (FLOWMATE_E2E_BASE_URL)")
        env = {**(self.env or os.environ), "FLOWMATE_DATABASE_URL": self.database_url}
        out = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"engine.cli {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
        return out


_REPORT: dict[str, Any] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _npm_registry() -> str | None:
    """The registry npm is configured for; handing it to Reflex skips its slow mirror probe."""
    if os.environ.get("NPM_CONFIG_REGISTRY"):
        return os.environ["NPM_CONFIG_REGISTRY"]
    npm = shutil.which("npm")
    if not npm:
        return None
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        out = subprocess.run([npm, "config", "get", "registry"], capture_output=True, text=True, timeout=30)
        value = out.stdout.strip()
        if out.returncode == 0 and value and value != "undefined":
            return value
    return None


@contextlib.contextmanager
def _web_workdir() -> Iterator[Path]:
    """A frontend build folder outside the work tree, reused between sessions when free.

    Keyed by checkout path so two clones never share one. An exclusive flock guards it for the
    whole session; a concurrent session falls back to a throwaway folder (slower, but correct).
    """
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flowmate-e2e"
    key = hashlib.sha256(str(REPO).encode()).hexdigest()[:12]
    cache = base / key
    cache.mkdir(parents=True, exist_ok=True)
    lock_file = open(cache / "lock", "w")  # noqa: SIM115 - held for the whole session
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        tmp = Path(tempfile.mkdtemp(prefix="flowmate-e2e-web-"))
        try:
            yield tmp / "web"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        yield cache / "web"
    finally:
        fcntl.flock(lock_file, fcntl.LOCK_UN)
        lock_file.close()


def _tree_rss_mb(pid: int) -> float | None:
    try:
        import psutil

        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return round(total / 2**20, 1)
    except Exception:
        return None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _log_tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        text = path.read_text(errors="replace").splitlines()
        return "\n".join(line for line in text if not line.startswith("Progress:"))[-4000:]
    return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group (reflex, its backend worker, bun), then SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    # Children that outlived the leader are still in the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _app_env(port: int, web_dir: Path, run_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # Never inherit another run's ports, mode or services: this server is self-contained.
        if not k.startswith(("REFLEX_FRONTEND", "REFLEX_BACKEND", "REFLEX_ENV_MODE", "FLOWMATE_"))
    }
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "REFLEX_TELEMETRY_ENABLED": "false",
            "REFLEX_CHECK_LATEST_VERSION": "0",
            "REFLEX_WEB_WORKDIR": str(web_dir),
            "REFLEX_STATES_WORKDIR": str(run_dir / "states"),
            "REFLEX_UPLOADED_FILES_DIR": str(run_dir / "uploads"),
            "FLOWMATE_ENV": "test",
            "FLOWMATE_DATABASE_URL": f"sqlite:///{run_dir / 'flowmate-e2e.db'}",
            "FLOWMATE_BASE_URL": f"http://127.0.0.1:{port}",
            "FLOWMATE_OUTBOUND_ALLOW": "127.0.0.0/8",
            # Every browser test signs up from 127.0.0.1: the per-IP sign-up throttle would stop them.
            "FLOWMATE_SIGNUP_RATE_LIMIT": "1000/minute",
            "FLOWMATE_LOGIN_RATE_LIMIT": "1000/minute",
            # The same for the account flows (reset, resends, invitations, SSO): tests/api checks the 429s.
            "FLOWMATE_ACCOUNT_RATE_LIMIT": "1000/minute",
            "FLOWMATE_ACCOUNT_RATE_LIMIT_PER_ADDRESS": "1000/minute",
            "FLOWMATE_OIDC_RATE_LIMIT": "1000/minute",
        }
    )
    env.setdefault("REFLEX_BUN_PATH", str(REPO / ".tools/node_modules/bun/bin/bun.exe"))
    registry = _npm_registry()
    if registry:
        env["NPM_CONFIG_REGISTRY"] = registry
    return env


@pytest.fixture(scope="session")
def local_oauth() -> Iterator[Any]:
    """A local OAuth 2.0 authorization server + Xero API (tests/integrations/fake_oauth.py) that the
    app's Xero connection type points at, so "Connect" runs end to end in Chromium."""
    sys.path.insert(0, str(REPO / "tests" / "integrations"))
    from fake_oauth import FakeOAuth, running

    with running(FakeOAuth()) as server:
        yield server


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[Any]:
    """The real SMTP server (aiosmtpd) the app sends its system mail to (FLOWMATE_SMTP_URL)."""
    from mail_support import smtp_server

    with smtp_server() as (sink, port):
        sink.port = port
        yield sink


@pytest.fixture(scope="session")
def oidc_idp() -> Iterator[Any]:
    """A local OpenID Connect provider the app offers as "Local IdP" on /login and /signup."""
    from oidc_provider import LocalOidcProvider

    provider = LocalOidcProvider()
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory, mail_sink: Any, oidc_idp: Any,
               local_oauth: Any) -> Iterator[AppServer]:
    """The real app in prod mode on a free port; yields its base URL (``.base_url``)."""
    external = os.environ.get("FLOWMATE_E2E_BASE_URL")
    if external:
        if not _answers(external):
            unavailable(f"FLOWMATE_E2E_BASE_URL={external} does not answer")
        yield AppServer(base_url=external)
        return

    run_dir = tmp_path_factory.mktemp("app")
    port = int(os.environ.get("FLOWMATE_E2E_PORT") or _free_port())
    base_url = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "app-server.log"

    with _web_workdir() as web_dir:
        env = _app_env(port, web_dir, run_dir)
        from fake_oauth import oauth_env_vars

        env.update(oauth_env_vars(local_oauth))  # Xero connects to the local authorization server
        from mail_support import smtp_url

        env.update({"FLOWMATE_SMTP_URL": smtp_url(mail_sink.port), "FLOWMATE_MAIL_FROM": "FlowMate <no-reply@e2e.test>",
                    "FLOWMATE_MAIL_OUTBOX_DIR": str(run_dir / "mail-outbox"),
                    "FLOWMATE_OIDC_PROVIDERS": json.dumps([oidc_idp.provider_config()])})
        if not Path(env["REFLEX_BUN_PATH"]).exists():
            unavailable(f"bun not found at {env['REFLEX_BUN_PATH']} (run `make install`)")

        t0 = time.monotonic()
        migrate = subprocess.run(
            [sys.executable, "-m", "engine.cli", "db", "upgrade"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if migrate.returncode != 0:
            unavailable(f"migrating the e2e database failed:\n{migrate.stdout}\n{migrate.stderr}")
        t_migrated = time.monotonic()

        cmd = [
            sys.executable, "-m", "reflex", "run", "--env", "prod",
            "--frontend-port", str(port), "--backend-port", str(port),
            "--backend-host", "127.0.0.1",
        ]  # fmt: skip
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: teardown kills all of it
            )
        server = AppServer(base_url=base_url, database_url=env["FLOWMATE_DATABASE_URL"], env=env,
                           process=process, log_path=log_path)
        try:
            deadline = t_migrated + START_TIMEOUT_S
            while not (_answers(server.url("/")) and _answers(server.url("/api/health"))):
                if process.poll() is not None:
                    unavailable(
                        f"the app exited with {process.returncode} before answering; "
                        f"log {log_path}:\n{_log_tail(log_path)}"
                    )
                if time.monotonic() > deadline:
                    unavailable(
                        f"the app did not answer on {base_url} within {START_TIMEOUT_S:.0f} s; "
                        f"log {log_path}:\n{_log_tail(log_path)}"
                    )
                time.sleep(0.2)
            ready = time.monotonic()
            server.timings = {
                "migrate_s": round(t_migrated - t0, 2),
                "app_ready_s": round(ready - t_migrated, 2),
            }
            server.memory_mb["at_ready"] = _tree_rss_mb(process.pid) or 0.0
            _REPORT["server"] = server
            yield server
            server.memory_mb["at_end"] = _tree_rss_mb(process.pid) or 0.0
        finally:
            _stop(process)


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium through Playwright (never `playwright install`)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        t0 = time.monotonic()
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        _REPORT["browser_launch_s"] = round(time.monotonic() - t0, 2)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, app_server: AppServer) -> Iterator[Page]:
    """A fresh context (no cookies, no stored colour mode, light system theme) at desktop size.

    ``page.js_errors`` and ``page.failed_responses`` collect what went wrong for tests to assert.
    """
    context = browser.new_context(viewport=DESKTOP, base_url=app_server.base_url, color_scheme="light")
    context.set_default_timeout(15_000)
    page = context.new_page()
    # What a person would notice as breakage: uncaught JS errors and failed requests.
    errors: list[str] = []
    failed: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    page.js_errors = errors  # type: ignore[attr-defined]
    page.failed_responses = failed  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    server: AppServer | None = _REPORT.get("server")
    if server is None:
        return
    summary = {
        "base_url": server.base_url,
        **server.timings,
        "browser_launch_s": _REPORT.get("browser_launch_s"),
        "memory_mb": server.memory_mb,
    }
    terminalreporter.write_line(f"e2e app server: {json.dumps(summary)}")
    with contextlib.suppress(OSError):
        (ARTIFACTS / "e2e-timings.json").write_text(json.dumps(summary, indent=2))
