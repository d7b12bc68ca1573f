"""The Dramatiq broker and the ``execute_run`` actor.

RedisBroker when FLOWMATE_REDIS_URL is set (web app only enqueues; `flowmate worker` processes
execute). Without it, a StubBroker with worker threads inside this process: the embedded mode
that makes `make run` work with no other service.

Retries are ours, not Dramatiq's: the actor has max_retries=0 and the executor schedules the
next attempt as a delayed message.
"""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
import structlog
from dramatiq.brokers.stub import StubBroker

from engine.config import Settings, get_settings

log = structlog.get_logger("flowmate.queue")

QUEUE_NAME = "runs"
_lock = threading.RLock()
_broker: dramatiq.Broker | None = None
_actor: Any = None
_embedded_worker: dramatiq.Worker | None = None


def _execute_run(run_id: str, workspace_id: str | None = None) -> None:
    """Actor body: execute the run and schedule its next attempt if it has to wait.

    ``workspace_id`` (absent in messages from the sweeper) lets the executor apply the
    per-workspace cap before touching the database.
    """
    outcome = _executor().execute(run_id, workspace_id=workspace_id)
    if outcome.requeue_in is not None:
        enqueue_run(run_id, delay_s=outcome.requeue_in, workspace_id=workspace_id)


_exec_instance = None


def _executor():  # noqa: ANN202 - engine.executor imported lazily
    global _exec_instance
    if _exec_instance is None:
        from engine.executor import Executor

        _exec_instance = Executor()
    return _exec_instance


def setup_broker(settings: Settings | None = None) -> dramatiq.Broker:
    """Create (once) the broker for these settings and declare the actor on it."""
    global _broker, _actor
    with _lock:
        if _broker is not None:
            return _broker
        settings = settings or get_settings()
        if settings.redis_url:
            from dramatiq.brokers.redis import RedisBroker

            broker: dramatiq.Broker = RedisBroker(url=settings.redis_url, namespace=settings.redis_namespace)
        else:
            broker = StubBroker()
            broker.emit_after("process_boot")
        dramatiq.set_broker(broker)
        _actor = dramatiq.actor(
            _execute_run, actor_name="execute_run", queue_name=QUEUE_NAME, max_retries=0,
            time_limit=24 * 3600 * 1000, max_age=None, broker=broker,
        )
        from engine.mail.job import declare as declare_mail_actor

        declare_mail_actor(broker)  # system mail (engine/mail) shares the broker and the workers
        _broker = broker
        return broker


def reset_broker() -> None:
    """Forget the broker (tests switch between embedded and Redis in one process)."""
    global _broker, _actor, _exec_instance
    with _lock:
        stop_embedded_worker(grace_s=5.0)
        if _broker is not None:
            _broker.close()
        _broker = None
        _actor = None
        _exec_instance = None


def enqueue_run(run_id: str, delay_s: float | None = None, workspace_id: str | None = None) -> None:
    """Send the run id (and, when known, its workspace) to the queue. Safe to call twice:
    claiming is conditional."""
    setup_broker()
    delay_ms = int(delay_s * 1000) if delay_s and delay_s > 0 else None
    args = (run_id, workspace_id) if workspace_id else (run_id,)
    try:
        _actor.send_with_options(args=args, delay=delay_ms)
    except Exception as exc:  # a lost message delays the run, the sweeper re-enqueues it
        # One line, no traceback: during a Redis outage this happens on every request, and
        # rendering tracebacks cost seconds per webhook (measured).
        log.warning("queue.enqueue_failed", run_id=run_id, error=f"{type(exc).__name__}: {exc}")


def start_embedded_worker(threads: int | None = None) -> dramatiq.Worker:
    """Start worker threads in this process (embedded mode, `run --wait`, `flowmate worker`)."""
    global _embedded_worker
    with _lock:
        broker = setup_broker()
        if _embedded_worker is None:
            from engine.executor import RUNTIME

            settings = get_settings()
            RUNTIME.threads = threads or settings.worker_threads
            RUNTIME.draining.clear()
            _embedded_worker = dramatiq.Worker(broker, worker_threads=RUNTIME.threads, worker_timeout=100)
            _embedded_worker.start()
            from engine.maintenance import start_background_threads

            start_background_threads()
        return _embedded_worker


def stop_embedded_worker(grace_s: float | None = None) -> None:
    """Stop gracefully: take no new run, let in-flight steps finish for ``grace_s`` seconds
    (default FLOWMATE_WORKER_SHUTDOWN_GRACE_SECONDS) while the heartbeat keeps their leases, then
    hand every run still unfinished back to the queue so another worker resumes it at once."""
    global _embedded_worker
    with _lock:
        if _embedded_worker is not None:
            from engine.executor import RUNTIME, hand_off_held_runs

            grace = get_settings().worker_shutdown_grace_seconds if grace_s is None else grace_s
            RUNTIME.draining.set()
            _embedded_worker.stop(timeout=max(1, int(grace * 1000)))
            _embedded_worker = None
            try:
                hand_off_held_runs()
            except Exception:  # the database is gone: the leases expire and the sweeper resumes them
                log.exception("worker.hand_off_failed")
            from engine.maintenance import stop_background_threads

            stop_background_threads()
            RUNTIME.draining.clear()  # this process may start workers again (tests, embedded mode)


def queue_depth() -> int | None:
    """Messages waiting in the run queue (None when the broker cannot tell)."""
    broker = setup_broker()
    try:
        if isinstance(broker, StubBroker):
            return broker.queues[QUEUE_NAME].qsize() if QUEUE_NAME in broker.queues else 0
        client = broker.client  # type: ignore[attr-defined]
        return int(client.llen(f"{get_settings().redis_namespace}:{QUEUE_NAME}") or 0)
    except Exception:
        return None
