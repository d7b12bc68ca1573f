"""Soak benchmark: hours-of-production in minutes, with the infrastructure misbehaving.

What runs (the production layout, on this machine, with PRIVATE PostgreSQL and Redis so they can
be restarted without touching anyone else's):
  - PostgreSQL 15 (initdb + pg_ctl in a temp folder, free port) and Redis (redis-server, free
    port, no persistence: a restart loses the queue, the sweeper must recover it);
  - the web app as compose runs it (`python -m flowmate_app.serve --backend-only`), the
    scheduler (`flowmate scheduler`) and two workers (`flowmate worker`);
  - mixed webhook load, open loop (--rate requests/s over several workflows): a core-only
    workflow, a transform + filter workflow, and one whose step calls a local HTTP endpoint (the
    "recorder", which notes every call with its Idempotency-Key and time);
  - disruption: every --kill-every seconds one worker (alternating) is killed with SIGKILL and
    started again; Redis is restarted once (at 1/3 of the run) and PostgreSQL once (at 2/3).

Afterwards it waits for every accepted run to finish and prints: runs accepted, finished, lost
(accepted but never finished, or missing: must be 0), finished steps repeated (a recorder call
for a step AFTER that step was recorded finished: must be 0; a call repeated because the worker
died mid-step is an at-least-once retry, printed separately), refused webhooks during outages,
and per disruption the recovery time (from the disruption until webhooks are accepted again and
runs finish again). Exit status 0 only when lost == 0 and repeated == 0. Not a test.

Usage: python bench/soak.py [--minutes 20] [--rate 20] [--kill-every 60] [--threads 4] [--worker-nice N]
Must run as root or as a user that can start PostgreSQL (it uses `runuser -u postgres` as root).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_BIN = Path(os.environ.get("FLOWMATE_SOAK_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster: initdb in a temp folder, trust auth, one free port."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "pg"
        self.port = free_port()
        self.dir.mkdir()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(root, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        conf = self.dir / "data" / "postgresql.conf"
        with conf.open("a") as f:
            f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.dir}'\n"
                    "max_connections = 300\nfsync = off\nshared_buffers = 64MB\n")
        self.start()

    def _run(self, *args: str) -> None:
        argv = (["runuser", "-u", "postgres", "--"] if self._as_postgres else []) + list(args)
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "start")

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-l", str(self.dir / "log"),
                  "-w", "restart")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/flowmate"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()


class PrivateRedis:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.dir = root / "redis"
        self.dir.mkdir()
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        import redis

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.ConnectionError):
                if redis.Redis(port=self.port).ping():
                    return
            time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self.stop()


class Recorder:
    """The HTTP endpoint a workflow step calls: every call's Idempotency-Key and wall time."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, float]] = []
        lock = threading.Lock()
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    hits.append((self.headers.get("Idempotency-Key") or "", time.time()))
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
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hit"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def workflows(recorder_url: str) -> list[dict]:
    hook = {"type": "webhook", "config": {}}
    return [
        {"name": "Soak: log", "trigger": hook, "steps": [
            {"key": "note", "action": "core.log", "config": {"message": "lead {{ trigger.body.n }}"}}]},
        {"name": "Soak: transform + filter", "trigger": hook, "steps": [
            {"key": "score", "action": "data.transform",
             "config": {"mapping": {"score": "{{ trigger.body.n * 3 }}", "email": "{{ trigger.body.email }}"}}},
            {"key": "only_even", "action": "core.filter",
             "config": {"condition": "{{ trigger.body.n % 2 == 0 }}"}},
            {"key": "done", "action": "core.log", "config": {"message": "even {{ steps.score.output.score }}"}}]},
        {"name": "Soak: call out", "trigger": hook, "steps": [
            {"key": "call", "action": "http.request",
             "config": {"url": recorder_url, "method": "POST", "body": "n={{ trigger.body.n }}"},
             "retry": {"max_attempts": 8, "initial_delay_s": 0.5, "factor": 2, "max_delay_s": 10}},
            {"key": "after", "action": "core.log", "config": {"message": "called {{ trigger.body.n }}"}}]},
    ]


class Fleet:
    """The FlowMate processes, each in its own session (so kill -9 takes its children too)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str]) -> None:
        with (self.logs / f"{name}.log").open("ab") as out:
            self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def kill9(self, name: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(timeout=20)

    def close(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=20.0, help="webhooks per second offered (open loop)")
    parser.add_argument("--kill-every", type=float, default=60.0, help="seconds between worker kills (-9)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument("--worker-nice", type=int, default=None,
                        help="flowmate worker --nice (default: the product default, FLOWMATE_WORKER_NICE=10; "
                             "on a machine shared with other busy programs, 0 keeps niced workers from starving)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs) afterwards")
    parser.add_argument("--drain-minutes", type=float, default=10.0,
                        help="how long to wait after the load for every accepted run to finish")
    args = parser.parse_args()
    duration = args.minutes * 60

    tmp = Path(tempfile.mkdtemp(prefix="flowmate-soak-"))
    (tmp / "logs").mkdir()
    pg = PrivatePostgres(tmp)
    redis_server = PrivateRedis(tmp)
    recorder = Recorder()
    with psycopg.connect(pg.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute("CREATE DATABASE flowmate")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWMATE_", "REFLEX_", "GRANIAN_"))}
    env.update({
        "PATH": f"{BIN}:{env.get('PATH', '')}", "PYTHONUNBUFFERED": "1",
        "FLOWMATE_ENV": "test", "FLOWMATE_DATABASE_URL": pg.url, "FLOWMATE_REDIS_URL": redis_server.url,
        "FLOWMATE_BASE_URL": f"http://127.0.0.1:{port}", "FLOWMATE_OUTBOUND_ALLOW": "127.0.0.0/8",
        "FLOWMATE_LOG_LEVEL": "WARNING", "FLOWMATE_LOG_FORMAT": "json",
        # Production-like recovery pace, a little faster so a 20-minute run sees many cycles.
        "FLOWMATE_LEASE_SECONDS": "10", "FLOWMATE_HEARTBEAT_SECONDS": "3", "FLOWMATE_SWEEP_INTERVAL_SECONDS": "5",
        "FLOWMATE_QUEUED_GRACE_SECONDS": "20", "FLOWMATE_WEBHOOK_RATE_PER_SECOND": "1000",
        "FLOWMATE_WEBHOOK_RATE_BURST": "1000",
        "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "0",
        "REFLEX_WEB_WORKDIR": str(tmp / "web"), "REFLEX_STATES_WORKDIR": str(tmp / "states"), "GRANIAN_WORKERS": "1",
    })
    os.environ.update({k: v for k, v in env.items() if k.startswith("FLOWMATE_")})
    fleet = Fleet(env, tmp / "logs")
    samples: list[tuple[float, int, int | None]] = []
    events: list[tuple[str, float, float]] = []  # (what, started, ended)
    accepted: list[tuple[float, str]] = []
    refused: dict[str, int] = defaultdict(int)
    try:
        subprocess.run([str(BIN / "flowmate"), "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        from engine.db import dispose_engines, session_scope
        from engine.services.accounts import create_workspace
        from engine.services.actor import Actor
        from engine.services.workflows import create_workflow, workflow_public

        with session_scope() as session:
            ws = create_workspace(session, "Soak")
            paths = []
            for definition in workflows(recorder.url):
                for copy in range(3):
                    named = {**definition, "name": f"{definition['name']} {copy}"}
                    wf = create_workflow(session, Actor.system(ws.id), named)
                    session.flush()
                    paths.append(workflow_public(session, wf)["webhook_path"])
        dispose_engines()

        fleet.start("web", [str(BIN / "python"), "-m", "flowmate_app.serve", "--backend-only", "--host", "127.0.0.1",
                            "--port", str(port)])
        fleet.start("scheduler", [str(BIN / "flowmate"), "scheduler"])
        workers = ["worker-1", "worker-2"]
        nice = ["--nice", str(args.worker_nice)] if args.worker_nice is not None else []
        worker_argv = [str(BIN / "flowmate"), "worker", "--processes", "1", "--threads", str(args.threads), *nice]
        for name in workers:
            fleet.start(name, worker_argv)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if (httpx.get(base + "/api/health", timeout=3).json().get("workers_alive") or 0) >= 2:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the web app did not become healthy; see " + str(tmp / "logs"))
            time.sleep(0.5)
        log(f"running {args.minutes:g} min at {args.rate:g} webhooks/s; logs in {tmp / 'logs'}")

        stop = threading.Event()
        lock = threading.Lock()

        def sender(offset: int, senders: int) -> None:
            interval = senders / args.rate
            n, next_at = offset, time.monotonic() + offset * interval / senders
            with httpx.Client(base_url=base, timeout=10) as client:
                while not stop.is_set():
                    time.sleep(max(0.0, next_at - time.monotonic()))
                    next_at += interval
                    try:
                        r = client.post(paths[n % len(paths)], json={"n": n, "email": f"lead{n}@example.com.au"})
                        if r.status_code == 202:
                            with lock:
                                accepted.append((time.monotonic(), r.json()["run_id"]))
                        else:
                            refused[str(r.status_code)] += 1
                    except httpx.HTTPError as exc:
                        refused[type(exc).__name__] += 1
                    n += senders

        def finished_count() -> int | None:
            try:
                with psycopg.connect(pg.url, connect_timeout=2) as conn:
                    return conn.execute("SELECT count(*) FROM run WHERE status IN "
                                        "('succeeded','failed','cancelled')").fetchone()[0]
            except psycopg.Error:
                return None

        def sampler() -> None:
            while not stop.is_set():
                samples.append((time.monotonic(), len(accepted), finished_count()))
                time.sleep(0.5)

        senders = [threading.Thread(target=sender, args=(i, 8), daemon=True) for i in range(8)]
        threads = [*senders, threading.Thread(target=sampler, daemon=True)]
        for t in threads:
            t.start()
        start = time.monotonic()
        next_kill, kills = start + args.kill_every, 0
        redis_at, pg_at = start + duration / 3, start + 2 * duration / 3
        redis_done = pg_done = False
        while (now := time.monotonic()) < start + duration:
            if now >= next_kill:
                name = workers[kills % 2]
                t0 = time.monotonic()
                fleet.kill9(name)
                fleet.start(name, worker_argv)
                events.append((f"kill -9 {name}", t0, time.monotonic()))
                kills += 1
                next_kill += args.kill_every
                log(f"killed and restarted {name}")
            if not redis_done and now >= redis_at:
                t0 = time.monotonic()
                redis_server.restart()
                events.append(("Redis restart (queue lost)", t0, time.monotonic()))
                redis_done = True
                log("restarted Redis")
            if not pg_done and now >= pg_at:
                t0 = time.monotonic()
                pg.restart()
                events.append(("PostgreSQL restart", t0, time.monotonic()))
                pg_done = True
                log("restarted PostgreSQL")
            time.sleep(0.2)
        load_seconds = time.monotonic() - start
        stop.set()
        for t in senders:
            t.join(timeout=30)
        log(f"load done: {len(accepted)} accepted; waiting for every run to finish")

        ids = [rid for _, rid in accepted]
        drain_deadline = time.monotonic() + args.drain_minutes * 60
        while True:
            done = finished_count() or 0
            if done >= len(ids) or time.monotonic() > drain_deadline:
                break
            time.sleep(1)
        drained_after = time.monotonic() - start - load_seconds
        with psycopg.connect(pg.url) as conn:
            rows = dict(conn.execute("SELECT id, status FROM run WHERE id = ANY(%s)", (ids,)).fetchall())
            failed_errors = [e for (e,) in conn.execute(
                "SELECT error FROM run WHERE status = 'failed' AND id = ANY(%s)", (ids,))]
            step_done = {f"{run_id}:{key}": finished.timestamp() for run_id, key, finished in conn.execute(
                "SELECT run_id, step_key, finished_at FROM steprun WHERE status = 'succeeded' AND step_key = 'call'")}
        statuses: dict[str, int] = defaultdict(int)
        for status in rows.values():
            statuses[status] += 1
        finished = sum(statuses[s] for s in ("succeeded", "failed", "cancelled"))
        lost = len(set(ids)) - finished
        calls: dict[str, list[float]] = defaultdict(list)
        for key, at in recorder.hits:
            calls[key].append(at)
        repeated_finished = sum(1 for key, ats in calls.items() if key in step_done
                                for at in ats if at > step_done[key] + 0.001)
        retried_in_flight = sum(len(ats) - 1 for ats in calls.values() if len(ats) > 1)

        def recovery(t0: float, t1: float) -> dict[str, float | None]:
            """Seconds from the disruption until webhooks are accepted again and runs finish again."""
            before = next((s for s in reversed(samples) if s[0] <= t0), samples[0])
            accept_again = next((s[0] for s in samples if s[0] > t1 and s[1] > before[1] + 1), None)
            base_done = max((s[2] or 0) for s in samples if s[0] <= t1) if samples else 0
            finish_again = next((s[0] for s in samples if s[0] > t1 and (s[2] or 0) > base_done), None)
            return {"took_s": round(t1 - t0, 2),
                    "webhooks_accepted_again_after_s": round(accept_again - t0, 2) if accept_again else None,
                    "runs_finishing_again_after_s": round(finish_again - t0, 2) if finish_again else None}

        figures = {
            "minutes": round(load_seconds / 60, 2),
            "offered_rate_per_s": args.rate,
            "workers": f"2 x flowmate worker --processes 1 --threads {args.threads} " + " ".join(nice),
            "disruptions": {"worker_kill9_and_restart": kills, "redis_restarts": int(redis_done),
                            "postgres_restarts": int(pg_done)},
            "accepted": len(ids),
            "finished": finished,
            "runs_by_status": dict(statuses),
            "lost": lost,
            # Of the lost: accepted ids with no run row at all (the rest were still queued or in
            # flight when the drain ended: a backlog, see runs_by_status, not a vanished run).
            "lost_without_a_row": len(set(ids)) - len(rows),
            "finished_steps_repeated": repeated_finished,
            "in_flight_steps_retried_after_a_kill": retried_in_flight,
            # A run must not FAIL because the infrastructure restarted (it should be retried):
            "failed_by_infrastructure": sum(1 for e in failed_errors if (e or "").startswith("internal error")),
            "failed_errors_sample": sorted({(e or "")[:160] for e in failed_errors})[:5],
            "refused_webhooks": dict(refused),
            "drained_after_load_s": round(drained_after, 1),
            "recovery": [{"event": what, **recovery(t0, t1)} for what, t0, t1 in events],
            "load_average_1m_at_end": os.getloadavg()[0],
        }
        print(json.dumps(figures, indent=2))
        ok = lost == 0 and repeated_finished == 0
        print("OK: nothing lost, no finished step repeated" if ok else "FAILED: lost runs or repeated finished steps")
        return 0 if ok else 1
    finally:
        fleet.close()
        recorder.close()
        redis_server.close()
        pg.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
