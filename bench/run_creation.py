"""Run creation cost: CPU and wall time per run written by the one creation path (start_run).

Measures, on PostgreSQL, in this one process (no queue: enqueue=False, no worker):
  - webhook: ``find_webhook`` (memoised) + ``create_webhook_run``, the intake's work per request
    once the body is read;
  - manual: ``create_run`` for a manual run (what the UI, API, CLI, cron and re-runs use).
Three repetitions each after a warm-up; CPU time (process_time) is much less sensitive to other
load on the machine than wall time. Not a test: it prints figures.

Usage: python bench/run_creation.py [--runs 2000]
Needs PostgreSQL at FLOWMATE_BENCH_PG (default postgresql://postgres@127.0.0.1:5432/postgres);
uses its own database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("FLOWMATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def measure(fn, runs: int) -> dict[str, list[int]]:  # noqa: ANN001
    for _ in range(200):
        fn()
    cpu, wall = [], []
    for _ in range(3):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(runs):
            fn()
        cpu.append(round((time.process_time() - c0) / runs * 1e6))
        wall.append(round((time.perf_counter() - w0) / runs * 1e6))
    return {"cpu_us_per_run": cpu, "wall_us_per_run": wall}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    name = f"flowmate_bench_create_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    os.environ["FLOWMATE_DATABASE_URL"] = url
    os.environ.pop("FLOWMATE_REDIS_URL", None)
    try:
        from engine.db import get_engine, session_scope
        from engine.migrate import upgrade
        from engine.services import runs
        from engine.services.accounts import create_workspace
        from engine.services.actor import Actor
        from engine.services.workflows import create_workflow, workflow_public
        from engine.triggers.webhook import build_payload

        upgrade(url)
        steps = [{"key": "a", "action": "core.log", "config": {"message": "x"}}]
        with session_scope() as session:
            ws = create_workspace(session, "Bench")
            actor = Actor.system(ws.id)
            hook_wf = create_workflow(session, actor, {"name": "hook", "trigger": {"type": "webhook"}, "steps": steps})
            token = workflow_public(session, hook_wf)["webhook_path"].rsplit("/", 1)[1]
            manual_id, ws_id = create_workflow(session, actor, {"name": "manual", "steps": steps}).id, ws.id
        payload = build_payload("POST", {"content-type": "application/json"}, {}, b'{"a": 1}', "application/json")
        result = {
            "runs_per_repetition": args.runs,
            "webhook": measure(lambda: runs.create_webhook_run(runs.find_webhook(token), payload, enqueue=False),
                               args.runs),
            "manual": measure(lambda: runs.create_run(manual_id, workspace_id=ws_id, trigger_type="manual",
                                                      payload={"payload": {"n": 1}}, enqueue=False), args.runs),
            "load_average_1m": os.getloadavg()[0],
        }
        print(json.dumps(result, indent=2))
        get_engine().dispose()
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
