"""Data-governance figures: export memory and webhook latency while retention prunes.

  python bench/governance.py export [--runs 100000] [--pg]
      A workspace with N runs (2 step runs each, ~0.5 KB of payload per run) behind the real web
      app (`reflex run --env prod --backend-only`, embedded queue: the export duty runs INSIDE
      the web process). POST /api/v1/exports, poll until done, sample the web process tree's
      RSS every 100 ms. Prints peak RSS before/during, duration, archive size.

  python bench/governance.py retention [--runs 200000] [--rate 200] [--pg]
      The same app, N finished runs older than the retention window, an open-loop webhook load
      of R requests/s over 16 webhooks; `flowmate retention run` prunes in a separate process
      while the load goes on. Prints intake p50/p99 before and during the purge.

SQLite by default (the embedded deployment); --pg uses a throwaway database on
FLOWMATE_BENCH_PG (default postgresql://postgres@127.0.0.1:5432/postgres). Only talks to
127.0.0.1; removes what it created. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PG_ADMIN = os.environ.get("FLOWMATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
HOOKS = 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**20


def wait_http(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


class Deployment:
    """A migrated database with one workspace and the web app serving it."""

    def __init__(self, pg: bool) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="flowmate-gov-bench-"))
        self.pg_name = None
        if pg:
            import psycopg

            self.pg_name = f"flowmate_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.pg_name}"')
            self.db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.pg_name
        else:
            self.db_url = f"sqlite:///{self.tmp / 'flowmate.db'}"
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWMATE_", "REFLEX_", "GRANIAN_"))}
        env.update({
            "FLOWMATE_ENV": "test", "FLOWMATE_DATABASE_URL": self.db_url, "FLOWMATE_LOG_LEVEL": "WARNING",
            "FLOWMATE_LOG_FORMAT": "json", "FLOWMATE_EXPORT_DIR": str(self.tmp / "exports"),
            "FLOWMATE_EXPORT_POLL_SECONDS": "0.5", "FLOWMATE_WEBHOOK_RATE_PER_SECOND": "1000",
            "FLOWMATE_WEBHOOK_RATE_BURST": "1000",
            "FLOWMATE_BASE_URL": f"http://127.0.0.1:{self.port}", "PROMETHEUS_MULTIPROC_DIR": str(self.tmp),
            "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "0",
            "REFLEX_WEB_WORKDIR": str(self.tmp / "web"), "REFLEX_STATES_WORKDIR": str(self.tmp / "states"),
            "GRANIAN_WORKERS": "1", "PYTHONUNBUFFERED": "1",
        })
        self.env = env
        os.environ.update({k: v for k, v in env.items() if k.startswith("FLOWMATE_")})
        subprocess.run([sys.executable, "-m", "engine.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        self.proc: subprocess.Popen | None = None

    def seed(self, runs: int, old: bool) -> tuple[str, str, list[str]]:
        from governance_support import insert_runs

        from engine.db import session_scope, utcnow
        from engine.services.accounts import create_token, create_workspace
        from engine.services.actor import Actor
        from engine.services.workflows import create_workflow, workflow_public

        with session_scope() as session:
            ws = create_workspace(session, "Bench Bakery")
            actor = Actor.system(ws.id)
            _, token = create_token(session, actor, role="owner")
            hooks = []
            for n in range(HOOKS):
                wf = create_workflow(session, actor, {"name": f"hook {n}", "trigger": {"type": "webhook",
                                     "config": {}}, "steps": [{"key": "note", "action": "core.log",
                                                               "config": {"message": "x"}}]})
                session.flush()
                hooks.append(workflow_public(session, wf)["webhook_path"])
                wf_id = wf.id
            ws_id = ws.id
        payload = {"email": "jo@example.com", "name": "Jo Citizen", "phone": "0412 345 678",
                   "address": "1 Campbell Parade, Bondi Beach NSW 2026", "note": "x" * 200}
        finished = utcnow() - timedelta(days=60) if old else utcnow()
        t0 = time.perf_counter()
        insert_runs(ws_id, wf_id, runs, finished_at=finished, payload=payload, step_input={"to": "0412 345 678"},
                    step_output={"ok": True, "id": "msg-123"}, chunk=5000)
        print(f"seeded {runs:,} runs with {2 * runs:,} step runs in {time.perf_counter() - t0:.1f} s", flush=True)
        return ws_id, token, hooks

    def start_web(self) -> None:
        log = open(self.tmp / "web.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reflex", "run", "--env", "prod", "--backend-only", "--backend-host", "127.0.0.1",
             "--backend-port", str(self.port)], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_http(f"http://127.0.0.1:{self.port}/ping")

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc)
        if self.pg_name:
            import psycopg

            from engine.db import dispose_engines

            dispose_engines()
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        import shutil

        shutil.rmtree(self.tmp, ignore_errors=True)


def api(port: int, method: str, path: str, token: str, body: dict | None = None) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"{}")
    conn.close()
    if resp.status >= 400:
        raise SystemExit(f"{method} {path} → {resp.status} {data}")
    return data


def bench_export(args: argparse.Namespace) -> None:
    dep = Deployment(args.pg)
    try:
        _, token, _ = dep.seed(args.runs, old=False)
        dep.start_web()
        time.sleep(2)
        idle = tree_rss_mb(dep.proc.pid)
        job = api(dep.port, "POST", "/api/v1/exports", token, {"scope": "workspace"})
        t0 = time.perf_counter()
        peak, status, next_poll = idle, job, 0.0
        while status["status"] in ("queued", "running"):
            peak = max(peak, tree_rss_mb(dep.proc.pid))  # every 100 ms
            time.sleep(0.1)
            if time.perf_counter() >= next_poll:  # progress every 2 s, as the Data page polls
                status = api(dep.port, "GET", f"/api/v1/exports/{job['id']}", token)
                next_poll = time.perf_counter() + 2
        elapsed = time.perf_counter() - t0
        if status["status"] != "succeeded":
            raise SystemExit(f"export {status['status']}: {status.get('error')}")
        print(json.dumps({
            "benchmark": "export", "database": "postgresql" if args.pg else "sqlite", "runs": args.runs,
            "web_rss_idle_mb": round(idle, 1), "web_rss_peak_during_export_mb": round(peak, 1),
            "export_seconds": round(elapsed, 1), "archive_mb": round(status["size_bytes"] / 2**20, 1),
            "rows_per_second": round(status["progress"]["total"] / elapsed),
            "load_average_1m_at_end": round(os.getloadavg()[0], 1),
            "process": "reflex run --env prod --backend-only (Granian, 1 worker, embedded queue: the export "
                       "runs in the web process)"}, indent=2))
    finally:
        dep.close()


def _load(port: int, hooks: list[str], rate: float, seconds: float, out: list[float], errors: list[int]) -> None:
    """Open loop: R requests/s on a fixed schedule over 4 keep-alive connections."""
    per_thread = rate / 4

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start = time.perf_counter()
        n = 0
        while True:
            due = start + n / per_thread
            if due - start > seconds:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                conn.request("POST", hooks[(n * 4 + offset) % len(hooks)], body=b'{"email":"a@b.co"}',
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 202:
                    errors.append(resp.status)
            except (OSError, http.client.HTTPException):
                errors.append(0)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            out.append(time.perf_counter() - due)  # from the scheduled send: queueing counts
            n += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def bench_retention(args: argparse.Namespace) -> None:
    dep = Deployment(args.pg)
    try:
        _, _, hooks = dep.seed(args.runs, old=True)
        dep.start_web()
        warm: list[float] = []
        _load(dep.port, hooks, args.rate, 3, warm, [])
        base: list[float] = []
        base_err: list[int] = []
        _load(dep.port, hooks, args.rate, args.seconds, base, base_err)  # the same load, no purge
        during: list[float] = []
        during_err: list[int] = []
        pruner_out: dict = {}

        def prune() -> None:
            t0 = time.perf_counter()
            # Its own session, as a service or cron job would run it (see engine/priority.py).
            res = subprocess.run([sys.executable, "-m", "engine.cli", "retention", "run"], cwd=ROOT, env=dep.env,
                                 capture_output=True, text=True, start_new_session=True)
            pruner_out.update(json.loads(res.stdout or "{}"), seconds=round(time.perf_counter() - t0, 1))

        pruner = threading.Thread(target=prune)
        pruner.start()
        t0 = time.perf_counter()
        while pruner.is_alive():
            chunk: list[float] = []
            _load(dep.port, hooks, args.rate, 2, chunk, during_err)
            during += chunk
        pruner.join()
        print(json.dumps({
            "benchmark": "retention", "database": "postgresql" if args.pg else "sqlite", "old_runs": args.runs,
            "rate_per_second": args.rate, "prune": pruner_out,
            "load_average_1m_at_end": round(os.getloadavg()[0], 1), "load_seconds_during_prune": round(
                time.perf_counter() - t0, 1),
            "before": {"requests": len(base), "p50_ms": _pct(base, 0.5), "p99_ms": _pct(base, 0.99),
                       "non_202": len(base_err)},
            "during_prune": {"requests": len(during), "p50_ms": _pct(during, 0.5), "p99_ms": _pct(during, 0.99),
                             "non_202": len(during_err),
                             "mean_ms": round(statistics.fmean(during) * 1000, 1) if during else None}}, indent=2))
    finally:
        dep.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("export")
    p.add_argument("--runs", type=int, default=100_000)
    p.add_argument("--pg", action="store_true")
    p.set_defaults(func=bench_export)
    p = sub.add_parser("retention")
    p.add_argument("--runs", type=int, default=200_000)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--pg", action="store_true")
    p.set_defaults(func=bench_retention)
    args = parser.parse_args()
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
