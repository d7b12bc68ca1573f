"""What the tamper-evident audit chain costs a workflow save (PostgreSQL).

Each audit row locks its workspace's chain head (one ``UPDATE ... RETURNING``) and writes its
hash, so writers of ONE workspace queue behind each other until they commit. This prints:
  1. the latency of one workflow save (update_workflow of a 5-step workflow, committed) with
     (a) the chained audit row (what FlowMate does), (b) a plain unchained audit row (what it did
     before), (c) no audit row at all;
  2. saves per second with 4 threads saving in the SAME workspace (they serialise on the chain)
     and in 4 DIFFERENT workspaces (they do not).
Not a test: it prints figures. Usage: python bench/audit_chain_cost.py [--saves 300]
Needs PostgreSQL at FLOWMATE_BENCH_PG (default postgresql://postgres@127.0.0.1:5432/postgres);
uses its own database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("FLOWMATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def definition(n: int) -> dict:
    return {"name": f"Bench save {n}", "trigger": {"type": "webhook", "config": {}}, "steps": [
        {"key": f"s{i}", "action": "core.log", "config": {"message": f"step {i} version {n}"}} for i in range(5)]}


def save_loop(actor, workflow_id: str, count: int, start: int = 0) -> list[float]:  # noqa: ANN001
    from engine.db import session_scope
    from engine.services.workflows import update_workflow

    took = []
    for n in range(start, start + count):
        t0 = time.perf_counter()
        with session_scope() as session:
            update_workflow(session, actor, workflow_id, definition(n))
        took.append((time.perf_counter() - t0) * 1000)
    return took


def setup_workspace(name: str):  # noqa: ANN201
    from engine.db import session_scope
    from engine.services.accounts import create_workspace
    from engine.services.actor import Actor
    from engine.services.workflows import create_workflow

    with session_scope() as session:
        ws = create_workspace(session, name)
        actor = Actor.system(ws.id)
        wf = create_workflow(session, actor, definition(0))
        return actor, wf.id


def add_workflow(actor, n: int) -> str:  # noqa: ANN001
    from engine.db import session_scope
    from engine.services.workflows import create_workflow

    with session_scope() as session:
        return create_workflow(session, actor, definition(n)).id


def threaded(targets: list[tuple], per_thread: int) -> float:
    threads = [threading.Thread(target=save_loop, args=(actor, wf, per_thread, 1000)) for actor, wf in targets]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(targets) * per_thread / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saves", type=int, default=300)
    args = parser.parse_args()
    name = f"flowmate_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    os.environ["FLOWMATE_DATABASE_URL"] = url
    try:
        from engine.migrate import upgrade
        from engine.models import AuditLog, new_id
        from engine.redaction import redact
        from engine.services import audit

        upgrade(url)
        actor, wf = setup_workspace("Bench solo")
        save_loop(actor, wf, 30)  # warm up
        chained = audit._append

        def plain(session, workspace_id, actor_label, action, object_type, object_id, changes):  # noqa: ANN001
            session.add(AuditLog(workspace_id=workspace_id, actor=actor_label, action=action,  # own "chain":
                                 object_type=object_type, object_id=object_id, changes=redact(changes),
                                 chain=new_id(), seq=0))  # no head lock, like before the chain existed

        def none(*_a, **_k):  # noqa: ANN002, ANN003
            return None

        variants = (("chained audit row", chained), ("plain audit row (before)", plain), ("no audit row", none))
        results: dict[str, list[float]] = {label: [] for label, _ in variants}
        rounds = max(1, args.saves // 20)  # interleaved, so machine noise hits every variant alike
        for r in range(rounds):
            for label, impl in variants:
                audit._append = impl
                results[label] += save_loop(actor, wf, 20, 100 + r * 100)
        audit._append = chained
        print(f"workflow save latency, {rounds * 20} saves each (interleaved in rounds of 20), one writer (ms):")
        for label, took in results.items():
            q = statistics.quantiles(took, n=20)
            print(f"  {label:28s} mean {statistics.mean(took):6.2f}  p50 {statistics.median(took):6.2f}  "
                  f"p95 {q[18]:6.2f}")
        same = [(actor, add_workflow(actor, i)) for i in range(4)]  # 4 workflows, all in the solo workspace
        apart = [setup_workspace(f"Bench apart {i}") for i in range(4)]
        per = max(25, args.saves // 4)
        print(f"4 threads x {per} saves: same workspace {threaded(same, per):6.1f} saves/s, "
              f"4 workspaces {threaded(apart, per):6.1f} saves/s")
        from sqlalchemy import delete

        from engine.db import session_scope

        with session_scope() as session:
            session.exec(delete(AuditLog).where(AuditLog.seq == 0))  # the plain rows of variant (b)
        with session_scope() as session:
            bad = [c for c in audit.verify_all(session) if not c["ok"]]
        print("chains verified after the concurrent saves:", bad if bad else "yes")
    finally:
        from engine.db import dispose_engines

        dispose_engines()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
