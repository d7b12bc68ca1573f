"""Login flood vs webhook latency: webhook p50/p95/p99 with and without a flood of wrong-password logins.

A login costs one argon2 check (tens of milliseconds of CPU). FlowMate runs those checks on a
small bounded thread pool (FLOWMATE_PASSWORD_HASH_THREADS, default 1; queue
FLOWMATE_PASSWORD_HASH_QUEUE, default 32, beyond which logins get 503 at once), never on the
event loop, so webhooks keep their latency while the flood lasts.

What runs: PostgreSQL + Redis (own database and namespace, removed afterwards), the web app as
deployed (`reflex run --env prod --backend-only`, Granian, --web-workers processes), no
workers (intake only writes and enqueues). Then, per phase, one client sends webhooks at a fixed
rate (open loop: latency counts from the scheduled send time) to 8 webhook URLs:

  1. quiet: webhooks only;
  2. flood: plus --flood-clients keep-alive clients POSTing /auth/login with wrong passwords at
     --flood-rate per second in all (far above what argon2 can check), each a different email,
     with the lockout thresholds raised so that every attempt that gets a hash thread really runs
     argon2 (the worst case: a distributed attacker the lockouts do not catch);
  3. reference: the same request rate of cheap unauthenticated API calls (401 at once), which
     shows what any flood of requests costs the process, apart from argon2;
  4. (--with-lockout) the same flood with the default lockout thresholds: locked attempts are
     refused before any hashing.

Prints one JSON document. Not a test. Only ever talks to 127.0.0.1.

Usage: python bench/login_flood.py [--seconds 15] [--rate 50] [--flood-clients 32] [--flood-rate 200]
                                   [--web-workers 1]
                                   [--with-lockout]
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
HOOKS = 8
WORKFLOW = {"name": "Bench: hook", "trigger": {"type": "webhook", "config": {}},
            "steps": [{"key": "note", "action": "core.log", "config": {"message": "{{ trigger.body.n }}"}}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(x.split(":", 1)[1]) for x in lines[1:] if x.lower().startswith("content-length")), 0)
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def webhooks(port: int, paths: list[str], rate: float, stop_at: float, out: dict) -> None:
    """Open loop: one request every 1/rate s over a few connections; latency from the schedule."""
    interval = 1 / rate

    async def one_connection(offset: int, conns: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        scheduled = time.perf_counter() + offset * interval
        n = offset
        try:
            while scheduled < stop_at:
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
                body = json.dumps({"n": n}).encode()
                request = (f"POST {paths[n % len(paths)]} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
                status = await _exchange(reader, writer, request)
                out["status"][status] = out["status"].get(status, 0) + 1
                if status == 202:
                    out["latencies"].append(time.perf_counter() - scheduled)
                scheduled += interval * conns
                n += conns
        finally:
            writer.close()

    conns = 4
    await asyncio.gather(*(one_connection(i, conns) for i in range(conns)))


async def flood(port: int, clients: int, rate: float, stop_at: float, out: dict, login: bool = True) -> None:
    """``clients`` keep-alive connections sending ``rate`` requests/s in all (as fast as answered
    when a connection falls behind): wrong-password logins, or cheap unauthenticated API calls."""
    interval = clients / rate

    async def one(c: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        scheduled = time.perf_counter() + interval * c / clients
        i = 0
        try:
            while time.perf_counter() < stop_at:
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
                scheduled += interval
                if login:
                    body = f"email=victim{c}-{i}%40example.com&password=guess{i}".encode()
                    request = (f"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}"
                               "\r\n\r\n").encode() + body
                else:
                    request = b"GET /api/v1/workflows HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                status = await _exchange(reader, writer, request)
                out[status] = out.get(status, 0) + 1
                i += 1
        finally:
            writer.close()

    await asyncio.gather(*(one(c) for c in range(clients)))


async def phase(port: int, paths: list[str], seconds: float, rate: float, flood_clients: int,
                flood_rate: float = 0, login: bool = True) -> dict:
    hooks: dict = {"status": {}, "latencies": []}
    logins: dict = {}
    stop_at = time.perf_counter() + seconds
    tasks = [webhooks(port, paths, rate, stop_at, hooks)]
    if flood_clients:
        tasks.append(flood(port, flood_clients, flood_rate, stop_at, logins, login))
    await asyncio.gather(*tasks)
    lat = [x * 1000 for x in hooks["latencies"]]
    return {
        "webhooks_accepted": len(lat), "webhook_statuses": hooks["status"],
        "webhook_p50_ms": round(percentile(lat, 50), 1), "webhook_p95_ms": round(percentile(lat, 95), 1),
        "webhook_p99_ms": round(percentile(lat, 99), 1),
        **({"flood_answers": logins, "flood_per_s": round(sum(logins.values()) / seconds, 1)} if flood_clients
           else {}),
    }


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer")


def start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    out = open(log, "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "reflex", "run", "--env", "prod", "--backend-only", "--backend-host", "127.0.0.1",
         "--backend-port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/ping")
    return proc


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
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=50, help="webhooks per second (open loop)")
    parser.add_argument("--flood-clients", type=int, default=32)
    parser.add_argument("--flood-rate", type=float, default=200, help="flood requests per second in all")
    parser.add_argument("--web-workers", type=int, default=1)
    parser.add_argument("--with-lockout", action="store_true", help="also flood with the default lockout on")
    args = parser.parse_args()

    db_name = f"flowmate_bench_{uuid.uuid4().hex[:8]}"
    namespace = f"flowmate-bench-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + db_name
    tmp = Path(tempfile.mkdtemp(prefix="flowmate-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWMATE_", "REFLEX_", "GRANIAN_"))}
    env.update({
        "FLOWMATE_ENV": "test", "FLOWMATE_DATABASE_URL": db_url, "FLOWMATE_REDIS_URL": REDIS,
        "FLOWMATE_REDIS_NAMESPACE": namespace, "FLOWMATE_LOG_LEVEL": "WARNING", "FLOWMATE_LOG_FORMAT": "json",
        "FLOWMATE_BASE_URL": f"http://127.0.0.1:{port}", "FLOWMATE_WEBHOOK_RATE_PER_SECOND": "1000",
        "FLOWMATE_WEBHOOK_RATE_BURST": "2000",
        "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "0",
        "REFLEX_WEB_WORKDIR": str(tmp / "web"), "REFLEX_STATES_WORKDIR": str(tmp / "states"),
        "GRANIAN_WORKERS": str(args.web_workers), "PYTHONUNBUFFERED": "1",
    })
    os.environ.update({k: v for k, v in env.items() if k.startswith("FLOWMATE_")})
    no_lockout = {"FLOWMATE_LOGIN_RATE_LIMIT": "1000000/minute", "FLOWMATE_LOGIN_ACCOUNT_RATE_LIMIT": "1000000/minute",
                  "FLOWMATE_LOGIN_FAILURES_PER_ACCOUNT": "1000000/minute",
                  "FLOWMATE_LOGIN_FAILURES_PER_CLIENT": "1000000/minute",
                  "FLOWMATE_LOGIN_FAILURES_PER_EMAIL": "1000000/minute"}
    procs: list[subprocess.Popen] = []
    result: dict = {"server": f"reflex run --env prod --backend-only (Granian, {args.web_workers} web process(es))",
                    "cores": os.cpu_count(), "seconds_per_phase": args.seconds, "webhook_rate": args.rate,
                    "flood_clients": args.flood_clients}
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

        web = start_web({**env, **no_lockout}, port, tmp / "web.log")
        procs.append(web)
        asyncio.run(phase(port, paths, 2, args.rate, 0))  # warm-up
        result["quiet"] = asyncio.run(phase(port, paths, args.seconds, args.rate, 0))
        result["flood_every_attempt_hashed"] = asyncio.run(
            phase(port, paths, args.seconds, args.rate, args.flood_clients, args.flood_rate))
        # Reference: the same request rate of the cheapest authenticated call (401 at once), to
        # tell what any flood costs the process from what argon2 adds.
        result["reference_flood_cheap_401s"] = asyncio.run(
            phase(port, paths, args.seconds, args.rate, args.flood_clients, args.flood_rate, login=False))
        result["quiet_after"] = asyncio.run(phase(port, paths, args.seconds / 2, args.rate, 0))
        if args.with_lockout:
            stop(web)
            procs.append(start_web(env, port, tmp / "web.log"))
            asyncio.run(phase(port, paths, 2, args.rate, 0))
            result["flood_default_lockout"] = asyncio.run(
                phase(port, paths, args.seconds, args.rate, args.flood_clients, args.flood_rate))
        print(json.dumps(result, indent=2))
    finally:
        for proc in procs:
            stop(proc)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        import redis

        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
