"""Many machines, tested: one web host and two worker hosts on a network of namespaces.

The hosts are network namespaces with their own address and hostname (tests/topology/netns.py);
PostgreSQL and Redis are reached over the veth addresses. Each host runs exactly the commands
compose.yaml runs: the web command and the scheduler on "web", `flowmate worker` on "a" and "b".
The test sends 500 webhooks to the web host, pulls worker host a's cable mid-load, and checks:
every run succeeds; both worker hosts executed runs (the step's HTTP target sees the caller's
address); /api/health listed workers of both hosts (and only b's after the cut); a's unfinished
runs were taken over by b after the lease expired, and no step that had finished ran again.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from netns import Forwarder, Recorder, Topology, namespaces_permitted

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))  # the deployment commands
from deploy_support import (  # noqa: E402
    PG_ADMIN_URL,
    Procs,
    base_env,
    compose_command,
    free_port,
    local_argv,
    unavailable,
    with_option,
)

pytestmark = pytest.mark.integration

WEBHOOKS = 500
HOOKS = 10
STEP_DELAY = 0.1  # seconds the step's HTTP target takes: runs are in flight when the cable goes


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[int]:
    """A Redis of this test's own on loopback (nothing shared is reconfigured by Reflex or us)."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            if time.monotonic() > deadline:
                pytest.fail("private redis-server did not start")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def topology() -> Iterator[Topology]:
    reason = namespaces_permitted()
    if reason:
        unavailable(reason)
    topo = Topology()
    try:
        yield topo
    finally:
        topo.close()


def _hooks(recorder_url: str) -> list[str]:
    from engine.db import session_scope
    from engine.services.accounts import create_workspace
    from engine.services.actor import Actor
    from engine.services.workflows import create_workflow, workflow_public

    with session_scope() as session:
        ws = create_workspace(session, "Topology")
        paths = []
        for n in range(HOOKS):
            wf = create_workflow(session, Actor.system(ws.id), {
                "name": f"Multi-host {n}", "trigger": {"type": "webhook", "config": {}},
                "steps": [
                    {"key": "call", "action": "http.request",
                     "config": {"url": recorder_url + "/hit", "method": "POST", "body": "n={{ trigger.body.n }}"},
                     "retry": {"max_attempts": 5, "initial_delay_s": 0.2, "factor": 2}},
                    {"key": "note", "action": "core.log", "config": {"message": "done {{ trigger.body.n }}"}},
                ]})
            session.flush()
            paths.append(workflow_public(session, wf)["webhook_path"])
    return paths


def _runs_held_by(db_url: str, hostname: str) -> dict[str, int]:
    """Runs a worker of ``hostname`` holds right now (status running, its lease), with their attempt."""
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return dict(conn.execute("SELECT id, attempt FROM run WHERE status = 'running' AND lease_owner LIKE %s",
                                 (f"{hostname}:%",)).fetchall())


def _attempts(db_url: str, run_ids: list[str]) -> dict[str, tuple[str, int]]:
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute("SELECT id, status, attempt FROM run WHERE id = ANY(%s)", (run_ids,)).fetchall()
    return {rid: (status, attempt) for rid, status, attempt in rows}


def _statuses(db_url: str) -> Counter:
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return Counter(dict(conn.execute("SELECT status, count(*) FROM run GROUP BY status").fetchall()))


@pytest.mark.timeout(900)
def test_web_and_two_worker_hosts_lose_no_run_when_one_worker_host_is_cut_off(
        topology: Topology, pg_db: str, private_redis: int, tmp_path: Path) -> None:
    web_host, host_a, host_b = topology.add("w"), topology.add("a"), topology.add("b")
    gateways = [h.gateway for h in (web_host, host_a, host_b)]
    db_name = pg_db.rsplit("/", 1)[1]
    # The server side of a dead link: like a real PostgreSQL would be configured (docs/deploy.md),
    # a session stuck in an open transaction is ended, so its row locks do not outlive the host.
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE \"{db_name}\" SET idle_in_transaction_session_timeout = '5s'")
    pg_forward = Forwarder(gateways, ("127.0.0.1", 5432))
    redis_forward = Forwarder(gateways, ("127.0.0.1", private_redis))
    recorder = Recorder(web_host.gateway, delay=STEP_DELAY)
    procs = Procs(tmp_path)
    try:
        paths = _hooks(recorder.url)
        port = 3000

        def env_on(host: str, gateway: str) -> dict[str, str]:
            return base_env(
                tmp_path / host,
                FLOWMATE_DATABASE_URL=f"postgresql://postgres@{gateway}:{pg_forward.port}/{db_name}",
                FLOWMATE_REDIS_URL=f"redis://{gateway}:{redis_forward.port}/0",
                FLOWMATE_BASE_URL=f"http://{web_host.addr}:{port}", FLOWMATE_OUTBOUND_ALLOW=topology.cidr,
                # A short lease so the takeover is quick; the sweeper at production-like pace (a
                # sweep re-enqueues every run queued longer than the grace, so a short grace
                # floods a backlogged queue with duplicates). Workers at normal priority: this
                # shared test machine is busy, and niced workers would crawl.
                FLOWMATE_LEASE_SECONDS="5", FLOWMATE_HEARTBEAT_SECONDS="1", FLOWMATE_SWEEP_INTERVAL_SECONDS="3",
                FLOWMATE_QUEUED_GRACE_SECONDS="30", FLOWMATE_WORKER_NICE="0", FLOWMATE_WEBHOOK_RATE_PER_SECOND="1000",
                FLOWMATE_WEBHOOK_RATE_BURST="1000", GRANIAN_WORKERS="1")

        web = with_option(local_argv(compose_command("web")), "--port", str(port)) + ["--backend-only"]
        procs.start("web", web, env_on("w", web_host.gateway), prefix=web_host.prefix())
        procs.start("scheduler", local_argv(compose_command("scheduler")), env_on("w", web_host.gateway),
                    prefix=web_host.prefix())
        for host in (host_a, host_b):
            procs.start(f"worker-{host.name}", local_argv(compose_command("worker")),
                        env_on(host.name, host.gateway), prefix=host.prefix())

        base = f"http://{web_host.addr}:{port}"

        def health() -> dict:
            return httpx.get(base + "/api/health", timeout=5).json()

        def worker_hosts() -> set[str]:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                return {w.split(":", 1)[0] for w in health().get("workers") or []}
            return set()

        deadline = time.monotonic() + 150
        while worker_hosts() != {host_a.hostname, host_b.hostname}:
            for name, proc in procs.items:
                assert proc.poll() is None, f"{name} exited:\n{procs.log(name)}"
            assert time.monotonic() < deadline, f"health never listed both worker hosts: {worker_hosts()}\n" \
                + procs.log("web") + procs.log("worker-a")
            time.sleep(0.5)
        listed_before = health()["workers"]

        # 500 webhooks at a steady pace from this namespace to the web host, over its veth.
        accepted: list[str] = []
        refused: list[tuple[int, str]] = []

        def send(offset: int, count: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                for i in range(offset, offset + count):
                    r = client.post(paths[i % HOOKS], json={"n": i})
                    (accepted.append(r.json()["run_id"]) if r.status_code == 202 else refused.append(
                        (r.status_code, r.text[:200])))
                    time.sleep(0.15)

        clients = [threading.Thread(target=send, args=(k * 125, 125)) for k in range(4)]
        for t in clients:
            t.start()
        # Mid-load, once host a is busy and holds runs right now: pull its cable. (On a fast machine
        # a host between two runs holds none, and the take-over would have nothing to prove.)
        a_calls = lambda: sum(1 for h in recorder.hits if h["client"] == host_a.addr)  # noqa: E731
        deadline = time.monotonic() + 60
        while (a_calls() < 40 or len(accepted) < 150 or len(_runs_held_by(pg_db, host_a.hostname)) < 2) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        assert a_calls() >= 40, (f"host a executed only {a_calls()} steps before the cut; calls by host: "
                                 f"{Counter(h['client'] for h in recorder.hits)}, runs: {dict(_statuses(pg_db))}\n"
                                 + procs.log("worker-a", 1500))
        host_a.cut()
        cut_at = time.monotonic()
        held_by_a = _runs_held_by(pg_db, host_a.hostname)  # a can no longer write: these are stranded
        for t in clients:
            t.join(timeout=120)
        assert not refused, f"refused webhooks: {refused[:5]}"
        assert len(accepted) == WEBHOOKS

        deadline = time.monotonic() + 240
        while (done := _statuses(pg_db))["succeeded"] < WEBHOOKS and time.monotonic() < deadline:
            time.sleep(0.5)
        assert done == Counter({"succeeded": WEBHOOKS}), f"runs by status: {dict(done)}"
        listed_after = health()["workers"]
    finally:
        for name, proc in procs.items:
            if name == "worker-a":  # cut off: it cannot finish a graceful stop
                procs.kill(proc, signal.SIGKILL)
        procs.close()
        recorder.close()
        pg_forward.close()
        redis_forward.close()

    hosts_before = {w.split(":", 1)[0] for w in listed_before}
    assert hosts_before == {host_a.hostname, host_b.hostname}, listed_before
    assert {w.split(":", 1)[0] for w in listed_after} == {host_b.hostname}, "host a's heartbeat expired"

    by_key: dict[str, list[dict]] = defaultdict(list)
    for hit in recorder.hits:
        by_key[hit["key"]].append(hit)
    assert set(by_key) == {f"{run_id}:call" for run_id in accepted}, "every run called its step"
    callers = Counter(hit["client"] for hit in recorder.hits)
    assert callers[host_a.addr] > 0 and callers[host_b.addr] > 0, f"both worker hosts executed runs: {callers}"
    # A step ran twice only when host a called it and lost the answer to the cut; b took over.
    repeated = {key: hits for key, hits in by_key.items() if len(hits) > 1}
    for key, hits in repeated.items():
        assert hits[0]["client"] == host_a.addr and hits[0]["time"] <= cut_at + STEP_DELAY + 0.5, (key, hits)
        assert all(h["client"] == host_b.addr for h in hits[1:]), (key, hits)
    # Host a held runs when its cable was pulled; each was claimed again (by b) and finished.
    assert held_by_a, "host a held no run at the cut: the cut did not happen mid-load"
    after = _attempts(pg_db, list(held_by_a))
    assert all(after[rid][0] == "succeeded" and after[rid][1] > held_by_a[rid] for rid in held_by_a), (
        f"runs host a held at the cut (attempt then): {held_by_a}; now: {after}")
    after_cut_on_a = [h for h in recorder.hits if h["client"] == host_a.addr and h["time"] > cut_at + 1]
    assert not after_cut_on_a, "nothing reaches the test side from a cut-off host"
    print(f"\nsteps by host: {dict(callers)}; runs taken over from the cut host: {len(held_by_a)}; "
          f"workers listed before the cut: {listed_before}")
