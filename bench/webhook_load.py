"""Webhook intake load check: accepted requests/s, p50/p99 latency, end-to-end completed runs/s.

What runs (the production layout, on this one machine):
  - PostgreSQL + Redis (FLOWMATE_DATABASE_URL / FLOWMATE_REDIS_URL);
  - the web app exactly as deployed: `reflex run --env prod --backend-only`, i.e. Reflex's
    Granian server with the full ASGI app (Reflex + our FastAPI routes), GRANIAN_WORKERS web
    processes (default 2 = the cores here), PROMETHEUS_MULTIPROC_DIR set;
  - `flowmate worker --processes P --threads T --nice N` executing runs (a 2-step workflow of
    core steps) WHILE the load runs, competing for the same 2 cores; started as a service would
    be (its own session), at the product's default worker priority unless --worker-nice says
    otherwise (see engine/priority.py: intake first, the queue absorbs the difference);
  - 32 concurrent keep-alive HTTP/1.1 clients (a minimal asyncio client, so the load generator
    costs little CPU) POSTing JSON to 64 webhook URLs round-robin; the default per-token rate
    limit (50/s, burst 100, counted in Redis) stays on. By default each client sends its next
    request as soon as the last one is answered (closed loop: the most the server accepts);
    with --rate R the clients together send R requests/s on a fixed schedule and latency counts
    from the scheduled send time, so a slow server cannot hide its queueing (open loop: how
    the system holds a steady R/s, and how many runs finish while it does).

Then it waits until every accepted run has finished and checks that no accepted request lacks
its run (every returned run_id is in the database, succeeded). Prints the figures. Not a test.

Usage: python bench/webhook_load.py [--seconds 20] [--clients 32] [--web-workers 2]
                                    [--processes 2] [--threads 4] [--worker-nice N]
                                    [--rate R] [--workers-after]
Needs PostgreSQL at FLOWMATE_BENCH_PG (default postgresql://postgres@127.0.0.1:5432/postgres)
and Redis at FLOWMATE_BENCH_REDIS (default redis://127.0.0.1:6379/0); uses its own database
and Redis namespace, removed afterwards. Only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("FLOWMATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("FLOWMATE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
HOOKS = 64

WORKFLOW = {
    "name": "Bench: webhook lead",
    "trigger": {"type": "webhook", "config": {}},
    "steps": [
        {"key": "note", "action": "core.log", "config": {"message": "lead {{ trigger.body.email }}"}},
        {"key": "score", "action": "data.transform",
         "config": {"mapping": {"email": "{{ trigger.body.email }}", "score": "{{ trigger.body.n * 2 }}"}}},
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def client(paths: list[str], port: int, stop_at: float, offset: int, out: dict,
                 interval: float | None = None) -> None:
    """One keep-alive connection; closed loop, or one request every ``interval`` seconds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    scheduled = time.perf_counter() + (interval or 0) * (offset % 1000) / 1000  # spread the clients
    try:
        while time.perf_counter() < stop_at:
            if interval:
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            path = paths[i % len(paths)]
            body = json.dumps({"email": f"lead{i}@example.com", "n": i}).encode()
            request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            t0 = scheduled if interval else time.perf_counter()
            scheduled += interval or 0
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length"))
            payload = await reader.readexactly(length)
            latency = time.perf_counter() - t0
            out["status"][status] = out["status"].get(status, 0) + 1
            if status == 202:
                out["latencies"].append(latency)
                out["run_ids"].append(json.loads(payload)["run_id"])
            i += 7
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def load(paths: list[str], port: int, seconds: float, clients: int, rate: float | None,
               cpu: CpuMeter) -> tuple[dict, float, float]:
    out: dict = {"status": {}, "latencies": [], "run_ids": []}
    # Warm-up (connections, pools, caches), not counted.
    warm: dict = {"status": {}, "latencies": [], "run_ids": []}
    await asyncio.gather(*(client(paths, port, time.perf_counter() + 1.5, c, warm) for c in range(clients)))
    cpu.start()
    start = time.perf_counter()
    interval = clients / rate if rate else None
    await asyncio.gather(*(client(paths, port, start + seconds, c * 1000 + c, out, interval) for c in range(clients)))
    end = time.perf_counter()
    cpu.stop()
    out["warm_run_ids"] = warm["run_ids"]
    return out, start, end


class CpuMeter:
    """CPU seconds used during the load window by each part of the system, read from /proc:
    where the time per request goes, a figure far steadier than throughput on a noisy host."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, groups: dict[str, object]) -> None:
        self.groups = groups  # name -> root pid (a tree) or a process name (every such process)
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    @staticmethod
    def _stat(pid: int) -> tuple[str, int, float]:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / CpuMeter.TICK

    def _sample(self) -> dict[str, float]:
        procs = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, ValueError):
                    procs[int(entry)] = self._stat(int(entry))
        totals = dict.fromkeys(self.groups, 0.0)
        for pid, (name, _, used) in procs.items():
            for group, root in self.groups.items():
                if isinstance(root, str) and name.startswith(root):
                    totals[group] += used
                elif isinstance(root, int):
                    p = pid
                    while p > 1 and p != root:
                        p = procs.get(p, ("", 0, 0))[1]
                    if p == root:
                        totals[group] += used
        totals["load generator"] = time.process_time()
        return totals

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> None:
        after = self._sample()
        self.used = {k: round(after[k] - self.before.get(k, 0.0), 2) for k in after}


def wait_http(url: str, timeout: float = 120) -> None:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-nice", type=int, default=None,
                        help="flowmate worker --nice (default: the product default, FLOWMATE_WORKER_NICE)")
    parser.add_argument("--intake-threads", type=int, default=None,
                        help="FLOWMATE_WEBHOOK_INTAKE_THREADS for the web processes (default: the product default)")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: send this many requests/s in all instead of as fast as answered")
    parser.add_argument("--workers-after", action="store_true",
                        help="start the workers only after the load (intake capacity alone, then the drain)")
    args = parser.parse_args()

    db_name = f"flowmate_bench_{uuid.uuid4().hex[:8]}"
    namespace = f"flowmate-bench-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + db_name
    tmp = Path(tempfile.mkdtemp(prefix="flowmate-bench-"))
    (tmp / "metrics").mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWMATE_", "REFLEX_", "GRANIAN_"))}
    env.update({
        "FLOWMATE_ENV": "test", "FLOWMATE_DATABASE_URL": db_url, "FLOWMATE_REDIS_URL": REDIS,
        "FLOWMATE_REDIS_NAMESPACE": namespace, "FLOWMATE_LOG_LEVEL": "WARNING", "FLOWMATE_LOG_FORMAT": "json",
        "FLOWMATE_BASE_URL": f"http://127.0.0.1:{port}", "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
        "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "0",
        "REFLEX_WEB_WORKDIR": str(tmp / "web"), "REFLEX_STATES_WORKDIR": str(tmp / "states"),
        "GRANIAN_WORKERS": str(args.web_workers), "PYTHONUNBUFFERED": "1",
    })
    if args.intake_threads:
        env["FLOWMATE_WEBHOOK_INTAKE_THREADS"] = str(args.intake_threads)
    os.environ.update({k: v for k, v in env.items() if k.startswith("FLOWMATE_")})
    procs: list[subprocess.Popen] = []
    try:
        subprocess.run([sys.executable, "-m", "engine.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        from engine.db import session_scope
        from engine.services.accounts import create_workspace
        from engine.services.actor import Actor
        from engine.services.workflows import create_workflow, workflow_public

        with session_scope() as session:
            ws = create_workspace(session, "Bench")
            paths = []
            for n in range(HOOKS):
                wf = create_workflow(session, Actor.system(ws.id), {**WORKFLOW, "name": f"Bench hook {n}"})
                session.flush()
                paths.append(workflow_public(session, wf)["webhook_path"])

        web_log = open(tmp / "web.log", "wb")  # noqa: SIM115
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "reflex", "run", "--env", "prod", "--backend-only", "--backend-host", "127.0.0.1",
             "--backend-port", str(port)], cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT,
            start_new_session=True))
        worker_log = open(tmp / "worker.log", "wb")  # noqa: SIM115

        def start_workers() -> None:
            nice = ["--nice", str(args.worker_nice)] if args.worker_nice is not None else []
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "worker", "--processes", str(args.processes),
                 "--threads", str(args.threads), *nice], cwd=ROOT, env=env, stdout=worker_log,
                stderr=subprocess.STDOUT, start_new_session=True))

        if not args.workers_after:
            start_workers()
        wait_http(f"http://127.0.0.1:{port}/api/health" if not args.workers_after else f"http://127.0.0.1:{port}/ping")

        cpu = CpuMeter({"web (Granian)": procs[0].pid, "workers": procs[1].pid if len(procs) > 1 else -1,
                        "postgres": "postgres", "redis": "redis-server"})
        out, start, end = asyncio.run(load(paths, port, args.seconds, args.clients, args.rate, cpu))
        accepted = out["run_ids"]
        all_ids = accepted + out["warm_run_ids"]
        duration = end - start
        if args.workers_after:
            start_workers()

        # End to end: wait for every accepted run (warm-up included) to finish.
        with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            deadline = time.monotonic() + 600
            while True:
                row = conn.execute("SELECT count(*) FILTER (WHERE status IN ('succeeded','failed','cancelled')), "
                                   "max(finished_at) FROM run").fetchone()
                if row[0] >= len(all_ids) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            finished_wall = time.perf_counter()
            found = conn.execute("SELECT id, status FROM run WHERE id = ANY(%s)", (all_ids,)).fetchall()
            load_window = conn.execute(
                "SELECT count(*) FROM run WHERE status = 'succeeded' AND id = ANY(%s) "
                "AND finished_at <= (SELECT max(created_at) FROM run)", (accepted,)).fetchone()[0]
        statuses: dict[str, int] = {}
        for _, status in found:
            statuses[status] = statuses.get(status, 0) + 1
        missing = len(set(all_ids)) - len(found)
        lat_ms = [x * 1000 for x in out["latencies"]]
        with contextlib.suppress(Exception):
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            webhook_lines = [line for line in metrics.splitlines()
                             if line.startswith("flowmate_webhook_requests_total")]
        figures = {
            "server": f"reflex run --env prod --backend-only (Granian, {args.web_workers} web processes, "
                      f"{env.get('FLOWMATE_WEBHOOK_INTAKE_THREADS', 'default')} intake threads each)",
            "workers": f"flowmate worker --processes {args.processes} --threads {args.threads}"
                       + (f" --nice {args.worker_nice}" if args.worker_nice is not None else " (default nice)")
                       + (" (started after the load)" if args.workers_after else " (running during the load)"),
            "load": f"open loop, {args.rate:g} requests/s offered" if args.rate else "closed loop",
            "load_average_1m_at_end": os.getloadavg()[0],
            "clients": args.clients,
            "seconds": round(duration, 2),
            "responses": out["status"],
            "accepted": len(accepted),
            "accepted_per_s": round(len(accepted) / duration, 1),
            "latency_ms_p50": round(statistics.median(lat_ms), 2) if lat_ms else None,
            "latency_ms_p99": round(percentile(lat_ms, 99), 2) if lat_ms else None,
            "latency_ms_max": round(max(lat_ms), 2) if lat_ms else None,
            "completed_runs_per_s_end_to_end": round(len(accepted) / (finished_wall - start), 1),
            "completed_within_load_window": int(load_window),
            "completed_runs_per_s_during_load": round(int(load_window) / duration, 1),
            "cpu_seconds_during_load": cpu.used,
            "cpu_ms_per_accepted_request": {k: round(v * 1000 / max(1, len(accepted)), 2) for k, v in cpu.used.items()},
            "runs_by_status": statuses,
            "accepted_without_run": missing,
            "metrics": webhook_lines if "webhook_lines" in locals() else None,
        }
        print(json.dumps(figures, indent=2))
        ok = missing == 0 and statuses.get("succeeded", 0) == len(set(all_ids))
        print("every accepted request has its run, all succeeded" if ok else "MISSING OR FAILED RUNS")
        return 0 if ok else 1
    finally:
        for proc in procs:
            stop(proc)
        from engine.db import dispose_engines

        dispose_engines()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        import redis

        client_ = redis.Redis.from_url(REDIS)
        for key in client_.scan_iter(f"{namespace}*"):
            client_.delete(key)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
