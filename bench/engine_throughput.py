"""Engine throughput: completed runs per second through Redis + `flowmate worker` processes.

Measures, on PostgreSQL + Redis:
  1. queued path: N runs of a 3-step workflow of cheap steps created (run row committed, id
     enqueued) and executed by real `flowmate worker` processes; runs/s from the first create
     to the last run finished;
  2. plain loop: the same database writes (create run, claim, 3 steps, finish) in one Python
     loop with no queue;
and prints both and their ratio. Not a test: it prints figures.

Usage: python bench/engine_throughput.py [--runs 3000] [--processes 2] [--threads 8]
Needs PostgreSQL at FLOWMATE_BENCH_PG (default postgresql://postgres@127.0.0.1:5432/postgres)
and Redis at FLOWMATE_BENCH_REDIS (default redis://127.0.0.1:6379/0). Uses its own database
and Redis namespace, removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("FLOWMATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("FLOWMATE_BENCH_REDIS", "redis://127.0.0.1:6379/0")

WORKFLOW = {
    "name": "Bench: three cheap steps",
    "steps": [
        {"key": "a", "action": "core.log", "config": {"message": "lead {{ trigger.payload.n }}"}},
        {"key": "b", "action": "core.log",
         "config": {"message": "{{ steps.a.output.message }} seen", "data": "{{ trigger.payload.n * 2 }}"}},
        {"key": "c", "action": "core.log", "config": {"message": "done {{ steps.b.output.data }}"}},
    ],
}


def count_finished(conn: psycopg.Connection, workflow_id: str) -> tuple[int, int]:
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed') "
        "FROM run WHERE workflow_id = %s", (workflow_id,)).fetchone()
    return int(row[0]), int(row[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--plain-runs", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--producers", type=int, default=4, help="threads creating runs")
    args = parser.parse_args()

    db_name = f"flowmate_bench_{uuid.uuid4().hex[:8]}"
    namespace = f"flowmate-bench-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + db_name
    os.environ.update({"FLOWMATE_DATABASE_URL": db_url, "FLOWMATE_REDIS_URL": REDIS,
                       "FLOWMATE_REDIS_NAMESPACE": namespace, "FLOWMATE_ENV": "test",
                       "FLOWMATE_LOG_LEVEL": "WARNING", "FLOWMATE_LOG_FORMAT": "json"})
    workers: subprocess.Popen | None = None
    try:
        from engine.db import session_scope
        from engine.executor import Executor
        from engine.logs import configure_logging
        from engine.migrate import upgrade
        from engine.services.accounts import create_workspace
        from engine.services.actor import Actor
        from engine.services.runs import create_run
        from engine.services.workflows import create_workflow

        configure_logging()
        upgrade(db_url)
        with session_scope() as session:
            ws = create_workspace(session, "Bench")
            ws_id = ws.id
            wf_queue = create_workflow(session, Actor.system(ws_id), WORKFLOW).id
            wf_plain = create_workflow(session, Actor.system(ws_id), {**WORKFLOW, "name": "plain"}).id

        # -- plain loop: the same writes, no queue ------------------------------------------
        executor = Executor()

        def plain_run(i: int) -> str:
            run, _ = create_run(wf_plain, workspace_id=ws_id, trigger_type="manual", payload={"payload": {"n": i}},
                                enqueue=False)
            return executor.execute(run.id).status

        for i in range(20):  # warm caches and connections
            plain_run(i)
        t0 = time.perf_counter()
        for i in range(args.plain_runs):
            outcome = plain_run(i)
            assert outcome == "succeeded", outcome
        plain_rate = args.plain_runs / (time.perf_counter() - t0)

        # -- queued path: real worker processes --------------------------------------------
        workers = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "worker", "--processes", str(args.processes),
             "--threads", str(args.threads)], env=os.environ.copy(), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)  # let the workers boot and connect
        conn = psycopg.connect(db_url, autocommit=True)

        def produce(indices: range) -> None:
            for i in indices:
                create_run(wf_queue, workspace_id=ws_id, trigger_type="manual", payload={"payload": {"n": i}})

        per = args.runs // args.producers
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.producers) as pool:
            list(pool.map(produce, [range(k * per, (k + 1) * per) for k in range(args.producers)]))
        created_in = time.perf_counter() - t0
        total = per * args.producers
        while True:
            ok, failed = count_finished(conn, wf_queue)
            if ok + failed >= total:
                break
            if time.perf_counter() - t0 > 600:
                print(f"timed out: {ok} succeeded, {failed} failed of {total}")
                return 1
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        queued_rate = total / elapsed
        lat = conn.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)) "
            "FROM run WHERE workflow_id = %s", (wf_queue,)).fetchone()

        print(f"machine: {os.cpu_count()} cores; workers: {args.processes} processes x {args.threads} threads")
        print(f"queued path : {total} runs (3 steps each) in {elapsed:.2f}s -> {queued_rate:.0f} completed runs/s "
              f"(creating them took {created_in:.2f}s); {failed} failed")
        print(f"              trigger-to-finish latency p50 {lat[0] * 1000:.0f} ms, p99 {lat[1] * 1000:.0f} ms")
        print(f"plain loop  : {args.plain_runs} runs in-process, no queue -> {plain_rate:.0f} runs/s")
        print(f"ratio       : queued / plain = {queued_rate / plain_rate:.2f} "
              f"(plain is {plain_rate / queued_rate:.2f}x the queued path)")
        conn.close()
        return 0
    finally:
        if workers is not None and workers.poll() is None:
            os.killpg(workers.pid, signal.SIGTERM)
            try:
                workers.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(workers.pid, signal.SIGKILL)
        from engine.db import dispose_engines

        dispose_engines()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        import redis

        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)


if __name__ == "__main__":
    sys.exit(main())
