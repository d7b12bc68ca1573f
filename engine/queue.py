"""The process's broker connection: set up, enqueue by actor name, queue depth. A leaf module.

RedisBroker when FLOWMATE_REDIS_URL is set (a web process only enqueues; `flowmate worker`
processes execute). Without it, a StubBroker whose worker threads run inside this process: the
embedded mode that makes `make run` work with no other service.

This module never declares an actor and never imports what executes a message: messages are
addressed by actor name (``broker.enqueue(Message(...))``), and the actors are declared on the
broker by the process that consumes them (``engine.runtime.Runtime``). So a web process sends
runs without loading the executor, and nothing here points up a layer.

The broker is process-wide because every caller that creates a run or a mail enqueues through
it (services, the executor, the sweeper); ``install_broker`` lets a test or a runtime choose it.

Retries are ours, not Dramatiq's: the actors have max_retries=0 and the executor schedules the
next attempt as a delayed message.
"""

from __future__ import annotations

import threading

import dramatiq
import structlog
from dramatiq.brokers.stub import StubBroker

from engine.config import Settings, get_settings

log = structlog.get_logger("flowmate.queue")

QUEUE_NAME = "runs"
RUN_ACTOR = "execute_run"
MAIL_QUEUE = "mail"
MAIL_ACTOR = "send_system_mail"

_lock = threading.RLock()
_broker: dramatiq.Broker | None = None


def make_broker(settings: Settings) -> dramatiq.Broker:
    """A new broker for these settings with the run and mail queues declared (no actors)."""
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker  # imports redis: only when configured

        broker: dramatiq.Broker = RedisBroker(url=settings.redis_url, namespace=settings.redis_namespace)
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    for name in (QUEUE_NAME, MAIL_QUEUE):
        broker.declare_queue(name)
    return broker


def setup_broker(settings: Settings | None = None) -> dramatiq.Broker:
    """The process's broker, created on first use for these settings."""
    global _broker
    with _lock:
        if _broker is None:
            install_broker(make_broker(settings or get_settings()))
        return _broker  # type: ignore[return-value]


def install_broker(broker: dramatiq.Broker | None) -> None:
    """Make ``broker`` the one every enqueue in this process goes through (None: forget it)."""
    global _broker
    with _lock:
        _broker = broker
        if broker is not None:
            dramatiq.set_broker(broker)


def reset_broker() -> None:
    """Close and forget the broker (tests switch between embedded and Redis in one process)."""
    with _lock:
        if _broker is not None:
            _broker.close()
        install_broker(None)


def enqueue(actor_name: str, queue_name: str, args: tuple, delay_s: float | None = None) -> None:
    """Send a message to ``actor_name`` on ``queue_name``; raises what the broker raises."""
    broker = setup_broker()
    delay_ms = int(delay_s * 1000) if delay_s and delay_s > 0 else None
    message = dramatiq.Message(queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={})
    broker.enqueue(message, delay=delay_ms)


def enqueue_run(run_id: str, delay_s: float | None = None, workspace_id: str | None = None) -> None:
    """Send the run id (and, when known, its workspace) to the queue. Safe to call twice:
    claiming is conditional."""
    args = (run_id, workspace_id) if workspace_id else (run_id,)
    try:
        enqueue(RUN_ACTOR, QUEUE_NAME, args, delay_s)
    except Exception as exc:  # a lost message delays the run, the sweeper re-enqueues it
        # One line, no traceback: during a Redis outage this happens on every request, and
        # rendering tracebacks cost seconds per webhook (measured).
        log.warning("queue.enqueue_failed", run_id=run_id, error=f"{type(exc).__name__}: {exc}")


def enqueue_mail(mail_id: str, delay_s: float | None = None) -> None:
    """Send the mail id to the queue (never raises: the row stays queued and
    ``requeue_waiting`` sends it again)."""
    try:
        enqueue(MAIL_ACTOR, MAIL_QUEUE, (mail_id,), delay_s)
    except Exception:
        log.exception("mail.enqueue_failed", mail_id=mail_id)


def queue_depth(broker: dramatiq.Broker | None = None) -> int | None:
    """Messages waiting in the run queue (None when the broker cannot tell)."""
    try:
        broker = broker or setup_broker()
        if isinstance(broker, StubBroker):
            return broker.queues[QUEUE_NAME].qsize() if QUEUE_NAME in broker.queues else 0
        client = broker.client  # type: ignore[attr-defined]
        return int(client.llen(f"{broker.namespace}:{QUEUE_NAME}") or 0)  # type: ignore[attr-defined]
    except Exception:
        return None
