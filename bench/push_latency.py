"""Live push vs polling, in Chromium: how soon a page shows a step the worker recorded, and how
many database queries open run pages cost.

For each variant it starts the real app (`reflex run --env prod`, SQLite, embedded worker, like
tests/e2e) from a source tree:
  - "polling": a tree of the version before live push (`--before-tree DIR`, e.g. made with
    `git archive <commit> | tar -x -C DIR`): the run page re-read every 1 s while in flight;
  - "push": this tree: the page is woken by the engine's bus (flowmate_app/live.py).

1. Latency, over --runs runs: a webhook run's first step (http.request) calls a local gate that
   holds it; the run page is open and shows the step running; the gate is released; latency =
   the moment a MutationObserver sees the step card turn "succeeded" (Date.now() in the page)
   minus the step's finished_at the worker wrote (same machine clock). Prints p50/p95/max.
2. Queries per minute: --pages tabs, each on a different in-flight run (a 10-minute
   core.delay: the run waits), for --seconds; every SQL statement the app's processes execute is
   counted by a SQLAlchemy ``before_cursor_execute`` listener that a sitecustomize.py (on the
   app's PYTHONPATH, bench-only) installs. The same span with no tab open is the baseline
   (sweeper, heartbeat, scheduler), printed separately.

Usage: python bench/push_latency.py --before-tree /tmp/flowmate-before [--runs 50] [--pages 20] [--seconds 60]
       (--only push|polling to measure one). Needs Chromium (/usr/bin/chromium) and bun (.tools).
Not a test: figures only. The machine this runs on is shared; say so next to the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("FLOWMATE_CHROMIUM", "/usr/bin/chromium")

SITECUSTOMIZE = '''
import os, threading, time
_dir = os.environ.get("FLOWMATE_BENCH_QUERY_DIR")
if _dir:
    try:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        _n = [0]

        @event.listens_for(Engine, "before_cursor_execute")
        def _count(*_args):
            _n[0] += 1

        def _dump():
            path = os.path.join(_dir, "q-%d" % os.getpid())
            while True:
                time.sleep(0.25)
                with open(path + ".tmp", "w") as f:
                    f.write(str(_n[0]))
                os.replace(path + ".tmp", path)

        def _start():
            _n[0] = 0
            threading.Thread(target=_dump, daemon=True).start()

        _start()
        os.register_at_fork(after_in_child=_start)
    except Exception:
        pass
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Gate:
    """POST /gate is answered only after ``release()`` (one release per request)."""

    def __init__(self) -> None:
        sem = self.sem = threading.Semaphore(0)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sem.acquire(timeout=120)
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/gate"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def release(self) -> None:
        self.sem.release()

    def close(self) -> None:
        for _ in range(200):
            self.sem.release()
        self.httpd.shutdown()


class App:
    """The app from ``tree`` in prod mode on a free port, with the query counter installed."""

    def __init__(self, tree: Path, work: Path) -> None:
        self.tree, self.work = tree, work
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.db = work / "bench.db"
        self.queries = work / "queries"
        self.queries.mkdir(parents=True)
        (work / "site").mkdir()
        (work / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWMATE_", "REFLEX_"))}
        env.update({
            "PYTHONPATH": f"{work / 'site'}:{tree}", "PYTHONUNBUFFERED": "1",
            "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "0",
            "REFLEX_WEB_WORKDIR": str(work / "web"), "REFLEX_STATES_WORKDIR": str(work / "states"),
            "REFLEX_BUN_PATH": str(ROOT / ".tools/node_modules/bun/bin/bun.exe"),
            "FLOWMATE_ENV": "test", "FLOWMATE_DATABASE_URL": f"sqlite:///{self.db}",
            "FLOWMATE_BASE_URL": self.base, "FLOWMATE_OUTBOUND_ALLOW": "127.0.0.0/8",
            "FLOWMATE_SIGNUP_RATE_LIMIT": "1000/minute", "FLOWMATE_LOGIN_RATE_LIMIT": "1000/minute",
            "FLOWMATE_WORKER_THREADS": "8", "FLOWMATE_BENCH_QUERY_DIR": str(self.queries),
        })
        self.env = env
        subprocess.run([sys.executable, "-m", "engine.cli", "db", "upgrade"], cwd=tree, env=env, check=True,
                       capture_output=True, timeout=300)
        self.log = open(work / "app.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reflex", "run", "--env", "prod", "--frontend-port", str(self.port),
             "--backend-port", str(self.port), "--backend-host", "127.0.0.1"],
            cwd=tree, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 900
        while not (self._answers("/") and self._answers("/api/health")):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the app from {tree} did not start; see {work / 'app.log'}")
            time.sleep(0.5)

    def _answers(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(self.base + path, timeout=3) as r:
                return r.status == 200
        except OSError:
            return False

    def query_count(self) -> int:
        total = 0
        for f in self.queries.glob("q-*"):
            if f.suffix == ".tmp":
                continue
            with contextlib.suppress(OSError, ValueError):
                total += int(f.read_text() or 0)
        return total

    def sql(self, query: str, *args: Any) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.db, timeout=30)) as conn:
            return conn.execute(query, args).fetchall()

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def create_workflow(app: App, workspace: str, definition: dict) -> str:
    """Create a workflow in the signed-up user's workspace with the tree's own CLI (import)."""
    slug = app.sql("SELECT slug FROM workspace WHERE name = ?", workspace)[0][0]
    path = app.work / f"wf-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(definition))
    out = subprocess.run([sys.executable, "-m", "engine.cli", "workflows", "import", str(path), "--workspace", slug],
                         cwd=app.tree, env=app.env, capture_output=True, text=True, timeout=120, check=True)
    wf_id = json.loads(out.stdout)["id"]
    return app.sql('SELECT webhook_token FROM "trigger" WHERE workflow_id = ?', wf_id)[0][0]


def _epoch_ms(value: str) -> float:
    dt = datetime.fromisoformat(value)
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp() * 1000


OBSERVE = """() => { window.__seen = null; new MutationObserver(() => {
  const el = document.querySelector('.step-card[data-step="call"]');
  if (window.__seen === null && el && el.dataset.status === 'succeeded') window.__seen = Date.now();
}).observe(document.body, {subtree: true, attributes: true, childList: true}); }"""


def measure(tree: Path, args: argparse.Namespace, browser: Any) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="flowmate-push-bench-"))
    log(f"starting the app from {tree}")
    app = App(tree, work)
    gate = Gate()
    context = browser.new_context(base_url=app.base, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        workspace = f"Bench {uuid.uuid4().hex[:6]}"
        page.goto("/signup")
        page.get_by_label("Your name").fill("Bench")
        page.get_by_label("Email").fill(f"bench-{uuid.uuid4().hex[:6]}@example.com")
        page.get_by_label("Password").fill("correct horse 1")
        page.get_by_label("Workspace name").fill(workspace)
        page.get_by_role("button", name="Create account").click()
        page.get_by_role("heading", name="Dashboard", level=1).wait_for()
        gated = create_workflow(app, workspace, {
            "name": "Gated", "trigger": {"type": "webhook", "config": {}},
            "steps": [{"key": "call", "action": "http.request", "config": {"method": "POST", "url": gate.url}},
                      {"key": "note", "action": "core.log", "config": {"message": "n={{ trigger.body.n }}"}}]})
        delayed = create_workflow(app, workspace, {
            "name": "Waiting", "trigger": {"type": "webhook", "config": {}},
            "steps": [{"key": "wait", "action": "core.delay", "config": {"minutes": 10}}]})

        latencies: list[float] = []
        for n in range(args.runs):
            run_id = httpx.post(f"{app.base}/hooks/{gated}", json={"n": n}, timeout=30).json()["run_id"]
            page.goto(f"/runs/{run_id}")
            page.locator('.step-card[data-step="call"][data-status="running"]').wait_for()
            page.evaluate(OBSERVE)
            gate.release()
            page.wait_for_function("window.__seen !== null", timeout=60_000, polling=50)
            seen = page.evaluate("window.__seen")
            (finished,) = app.sql("SELECT finished_at FROM steprun WHERE run_id = ? AND step_key = 'call'", run_id)[0]
            latencies.append(seen - _epoch_ms(finished))
        latencies.sort()
        log(f"latency done: p50 {statistics.median(latencies):.0f} ms")

        page.goto("/runs")
        time.sleep(args.seconds / 4)
        q0, t0 = app.query_count(), time.monotonic()
        time.sleep(args.seconds)
        baseline = (app.query_count() - q0) * 60 / (time.monotonic() - t0)

        waiting = [httpx.post(f"{app.base}/hooks/{delayed}", json={"n": i}, timeout=30).json()["run_id"]
                   for i in range(args.pages)]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            placeholders = ",".join("?" * len(waiting))
            rows = app.sql(f"SELECT count(*) FROM run WHERE status = 'waiting' AND id IN ({placeholders})", *waiting)
            if rows[0][0] == len(waiting):
                break
            time.sleep(0.5)
        tabs = []
        for run_id in waiting:
            tab = context.new_page()
            tab.goto(f"/runs/{run_id}")
            tab.locator('.step-card[data-step="wait"]').wait_for()
            tabs.append(tab)
        time.sleep(args.seconds / 4)
        q0, t0 = app.query_count(), time.monotonic()
        time.sleep(args.seconds)
        with_pages = (app.query_count() - q0) * 60 / (time.monotonic() - t0)
        for tab in tabs:
            tab.close()
        return {
            "tree": str(tree), "runs": len(latencies),
            "latency_ms": {"p50": round(statistics.median(latencies)),
                           "p95": round(latencies[max(0, int(len(latencies) * 0.95) - 1)]),
                           "max": round(latencies[-1]), "min": round(latencies[0])},
            "queries_per_min": {"baseline_no_run_pages": round(baseline),
                                f"with_{args.pages}_run_pages": round(with_pages),
                                "per_open_run_page": round((with_pages - baseline) / args.pages, 1)},
        }
    finally:
        context.close()
        gate.close()
        app.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before-tree", type=Path, help="source tree of the polling version")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0, help="query counting window")
    parser.add_argument("--only", choices=["push", "polling"])
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    variants = []
    if args.only != "polling":
        variants.append(("push", ROOT))
    if args.only != "push":
        if not args.before_tree:
            parser.error("--before-tree is needed for the polling variant (or --only push)")
        variants.append(("polling", args.before_tree))
    results: dict[str, Any] = {"load_average_1m_at_start": os.getloadavg()[0]}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            for name, tree in variants:
                results[name] = measure(tree.resolve(), args, browser)
                print(json.dumps({name: results[name]}), flush=True)
        finally:
            browser.close()
    results["load_average_1m_at_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
