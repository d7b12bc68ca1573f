"""`flowmate worker` and `flowmate scheduler` process entry points.

A worker process builds one :class:`engine.runtime.Runtime` (``for_worker``): Dramatiq worker
threads on the Redis broker, whose boot starts the duties (lease renewal, liveness, sweeper, ...).
A scheduler process builds ``Runtime.for_scheduler``: the same duties plus cron, no worker
threads. ``--processes N`` starts N worker processes (spawned, so no inherited database
connections) and stops them together on SIGINT/SIGTERM. Workers lower their CPU priority
(``--nice``, FLOWMATE_WORKER_NICE, see engine.priority) before starting any thread, so on a
shared machine webhook intake keeps its latency and the queue absorbs the difference.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading

import structlog

from engine.config import get_settings
from engine.logs import configure_logging
from engine.priority import lower_cpu_priority

log = structlog.get_logger("flowmate.worker")


def _require_redis() -> bool:
    if get_settings().embedded_queue:
        sys.stderr.write("flowmate worker needs FLOWMATE_REDIS_URL (without it the web app runs its own "
                         "in-process workers)\n")
        return False
    return True


def _serve(threads: int) -> None:
    """One worker process: consume runs until SIGTERM/SIGINT."""
    # Here, not at module level: the parent of `--processes N` only spawns children, and loading
    # the executor there first would delay every child's start by its import time.
    from engine.runtime import Runtime

    configure_logging()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runtime = Runtime.for_worker(threads=threads).start()
    log.info("worker.started", threads=threads, worker_id=runtime.worker_id)
    stop.wait()
    log.info("worker.stopping")
    runtime.stop()


def run_workers(processes: int, threads: int | None = None, nice: int | None = None) -> int:
    if not _require_redis():
        return 2
    settings = get_settings()
    threads = threads or settings.worker_threads
    nice = settings.worker_nice if nice is None else nice
    applied = lower_cpu_priority(nice)  # before any child or thread exists: they all inherit it
    log.info("worker.priority", **applied)
    if processes == 1:
        _serve(threads)
        return 0
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=_serve, args=(threads,), name=f"flowmate-worker-{i}") for i in range(processes)]
    for child in children:
        child.start()

    def _forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    for child in children:
        child.join()
    return 0


def run_scheduler() -> int:
    """Fire cron triggers and sweep lost runs until stopped. Several may run at once."""
    from engine.runtime import Runtime  # as in _serve: this module stays light for the parent

    configure_logging()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runtime = Runtime.for_scheduler().start()
    log.info("scheduler.started")
    stop.wait()
    runtime.stop()
    return 0
