"""Loop cost: a flow.loop of 1,000 cheap steps, next to the flat 3-step workflow.

Measures, on PostgreSQL, in this one process (runs executed by ``Executor.execute``, no queue):
  - flat: runs of the 3 cheap core.log steps bench/engine_throughput.py uses; steps/s and
    milliseconds per step (claim and finish included, spread over the 3 steps);
  - loop: one run of a flow.loop over 1,000 items whose inner step is one cheap core.log;
    steps/s and milliseconds per step execution;
  - the loop's per-step overhead: loop ms/step minus flat ms/step.
CPU time (process_time) is printed too: much less sensitive to other load than wall time.
Not a test: it prints figures.

Usage: python bench/flow_loop.py [--items 1000] [--flat-runs 300] [--repeat 3]
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

FLAT = {"name": "Bench: three cheap steps", "steps": [
    {"key": "a", "action": "core.log", "config": {"message": "lead {{ trigger.payload.n }}"}},
    {"key": "b", "action": "core.log",
     "config": {"message": "{{ steps.a.output.message }} seen", "data": "{{ trigger.payload.n * 2 }}"}},
    {"key": "c", "action": "core.log", "config": {"message": "done {{ steps.b.output.data }}"}},
]}


def loop_workflow(items: int) -> dict:
    return {"name": "Bench: loop of cheap steps", "steps": [
        {"key": "each", "action": "flow.loop", "config": {"items": f"{{{{ range({items}) | list }}}}",
                                                         "max_items": max(items, 1)},
         "steps": [{"key": "note", "action": "core.log", "config": {"message": "item {{ loop.item }}"}}]}]}


def timed(fn) -> tuple[float, float]:  # noqa: ANN001
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--flat-runs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    name = f"flowmate_bench_loop_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    os.environ["FLOWMATE_DATABASE_URL"] = url
    os.environ.pop("FLOWMATE_REDIS_URL", None)
    os.environ.setdefault("FLOWMATE_LOG_LEVEL", "warning")
    try:
        import structlog

        from engine.db import session_scope
        from engine.executor import Executor
        from engine.migrate import upgrade
        from engine.models import Run
        from engine.services import runs
        from engine.services.accounts import create_workspace
        from engine.services.actor import Actor
        from engine.services.workflows import create_workflow

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
        upgrade(url)
        with session_scope() as session:
            ws = create_workspace(session, "Bench")
            actor = Actor.system(ws.id)
            flat_id = create_workflow(session, actor, FLAT).id
            loop_id = create_workflow(session, actor, loop_workflow(args.items)).id
            ws_id = ws.id
        executor = Executor()

        def run_one(workflow_id: str, n: int) -> None:
            started, _ = runs.create_run(workflow_id, workspace_id=ws_id, trigger_type="manual",
                                         payload={"payload": {"n": n}}, enqueue=False)
            outcome = executor.execute(started.id)
            assert outcome.status == "succeeded", outcome

        for i in range(20):  # warm-up: caches, connections, compiled templates
            run_one(flat_id, i)
        run_one(loop_id, 0)

        flat, loop = [], []
        for _ in range(args.repeat):
            cpu, wall = timed(lambda: [run_one(flat_id, i) for i in range(args.flat_runs)])
            steps = args.flat_runs * 3
            flat.append({"steps_per_s": round(steps / wall), "ms_per_step": round(wall / steps * 1000, 3),
                         "cpu_ms_per_step": round(cpu / steps * 1000, 3)})
            cpu, wall = timed(lambda: run_one(loop_id, 0))
            loop.append({"steps_per_s": round(args.items / wall), "ms_per_step": round(wall / args.items * 1000, 3),
                         "cpu_ms_per_step": round(cpu / args.items * 1000, 3)})
        with session_scope() as session:
            last = session.exec(__import__("sqlmodel").select(Run).where(Run.workflow_id == loop_id)).first()
            assert last is not None and last.status == "succeeded"
        best_flat = min(flat, key=lambda r: r["ms_per_step"])
        best_loop = min(loop, key=lambda r: r["ms_per_step"])
        print(json.dumps({
            "items": args.items, "flat_runs": args.flat_runs,
            "flat_3_step": flat, "loop": loop,
            "loop_overhead_ms_per_step": round(best_loop["ms_per_step"] - best_flat["ms_per_step"], 3),
            "loop_overhead_cpu_ms_per_step": round(best_loop["cpu_ms_per_step"] - best_flat["cpu_ms_per_step"], 3),
            "load_average_1m": os.getloadavg()[0],
        }, indent=2))
    finally:
        from engine.db import dispose_engines

        dispose_engines()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
