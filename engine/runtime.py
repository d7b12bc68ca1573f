"""The composition root: one object owns what a process needs to execute runs.

A :class:`Runtime` holds the broker, the ``execute_run`` and ``send_system_mail`` actors declared
on it, the :class:`~engine.executor.Executor` with its worker id and held leases
(``executor.WorkerRuntime``), the Dramatiq worker threads and the background duties (lease
renewal, liveness beat, sweeper, usage flush, key expiry, cron tick, ...; engine.duties), which
are broker middleware started by the worker's boot and stopped by its shutdown.

Who builds one:

- ``flowmate worker`` (engine.worker): ``Runtime.for_worker`` on the Redis broker;
- ``flowmate scheduler``: ``Runtime.for_scheduler``, duties only (cron, sweeper, ...);
- the web app in embedded mode (flowmate_app/lifespan.py): ``Runtime.embedded``, worker threads
  and every duty in the web process, on the in-process broker its requests enqueue to;
- tests: ``Runtime(settings, broker=StubBroker(), ...)`` per test, started and stopped there.

A web process with Redis builds none: it only enqueues (engine.queue) and never imports this
module or the executor.
"""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
import structlog

from engine.config import Settings, get_settings
from engine.duties import LeaseRenewal, LivenessBeat, PeriodicDuty, maintenance_duties
from engine.executor import Executor, WorkerRuntime, new_worker_id
from engine.queue import MAIL_ACTOR, MAIL_QUEUE, QUEUE_NAME, RUN_ACTOR, enqueue_mail, enqueue_run, setup_broker
from engine.services.system_mail import deliver_queued

log = structlog.get_logger("flowmate.runtime")

#: An actor's own time limit: a run may wait on slow steps, but Dramatiq must never kill it.
RUN_TIME_LIMIT_MS = 24 * 3600 * 1000
MAIL_TIME_LIMIT_MS = 5 * 60 * 1000


class Runtime:
    """Broker, actors, executor, leases, worker threads and duties of one process.

    ``consume`` declares the actors and runs Dramatiq worker threads (a worker, the embedded
    web app); without it (the scheduler) only the duties run. ``cron`` adds the cron tick.

    The scheduler consumes nothing, so it has no Dramatiq ``Worker``: a worker with no actors
    would still start a consumer thread per declared queue and take run messages it cannot
    execute. ``start`` calls the duties' ``after_worker_boot`` hook itself, and ``stop`` their
    shutdown hooks, so the same middleware classes run there unchanged.
    """

    def __init__(self, settings: Settings | None = None, broker: dramatiq.Broker | None = None, *,
                 threads: int | None = None, consume: bool = True, cron: bool = False,
                 worker_id: str | None = None) -> None:
        self.settings = settings or get_settings()
        self.broker = broker if broker is not None else setup_broker(self.settings)
        self.worker_id = worker_id or new_worker_id()
        self.threads = threads or self.settings.worker_threads
        self.leases = WorkerRuntime()
        self.leases.threads = self.threads
        self.executor = Executor(self.settings, leases=self.leases, worker_id=self.worker_id)
        self.consume = consume
        self.duties: list[PeriodicDuty] = maintenance_duties(self.settings, cron=cron)
        if consume:
            self.duties[:0] = [LeaseRenewal(self.executor, self.settings.heartbeat_seconds),
                               LivenessBeat(self.worker_id, self.broker, self.settings)]
        self.actors: dict[str, Any] = {}
        self._worker: dramatiq.Worker | None = None
        self._started = False
        self._lock = threading.RLock()

    # -- constructors for each kind of process ----------------------------------------------

    @classmethod
    def for_worker(cls, settings: Settings | None = None, threads: int | None = None) -> Runtime:
        """`flowmate worker`: execute runs and mail from the Redis queue, plus the sweeper & co."""
        return cls(settings, threads=threads)

    @classmethod
    def for_scheduler(cls, settings: Settings | None = None) -> Runtime:
        """`flowmate scheduler`: cron and the sweeper & co, no worker threads."""
        return cls(settings, consume=False, cron=True)

    @classmethod
    def embedded(cls, settings: Settings | None = None, threads: int | None = None) -> Runtime:
        """The web app without Redis: worker threads, cron and every duty in the web process."""
        return cls(settings, threads=threads, cron=True)

    # -- actor bodies -----------------------------------------------------------------------

    def execute_run(self, run_id: str, workspace_id: str | None = None) -> None:
        """Execute the run and schedule its next attempt if it has to wait.

        ``workspace_id`` (absent in messages from the sweeper) lets the executor apply the
        per-workspace cap before touching the database.
        """
        outcome = self.executor.execute(run_id, workspace_id=workspace_id)
        if outcome.requeue_in is not None:
            enqueue_run(run_id, delay_s=outcome.requeue_in, workspace_id=workspace_id)

    def send_system_mail(self, mail_id: str) -> None:
        """Deliver one queued mail; a retryable failure comes back as a delayed message."""
        retry_in = deliver_queued(mail_id)
        if retry_in is not None:
            enqueue_mail(mail_id, delay_s=retry_in)

    def _declare_actors(self) -> None:
        for fn, name, queue, limit in ((self.execute_run, RUN_ACTOR, QUEUE_NAME, RUN_TIME_LIMIT_MS),
                                       (self.send_system_mail, MAIL_ACTOR, MAIL_QUEUE, MAIL_TIME_LIMIT_MS)):
            self.broker.actors.pop(name, None)  # a previous runtime on this broker (tests) had it
            self.actors[name] = dramatiq.actor(fn, actor_name=name, queue_name=queue, max_retries=0,
                                               time_limit=limit, max_age=None, broker=self.broker)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._started

    def start(self) -> Runtime:
        """Declare the actors, add the duties to the broker and start the worker threads (whose
        boot starts the duties). Idempotent."""
        with self._lock:
            if self._started:
                return self
            self.leases.draining.clear()
            for duty in self.duties:
                self.broker.add_middleware(duty)
            if self.consume:
                self._declare_actors()
                self._worker = dramatiq.Worker(self.broker, worker_threads=self.threads, worker_timeout=100)
                self._worker.start()
            else:
                for duty in self.duties:
                    duty.after_worker_boot(self.broker, self)
            self._started = True
            log.info("runtime.started", worker_id=self.worker_id, consume=self.consume,
                     duties=[d.name for d in self.duties])
            return self

    def stop(self, grace_s: float | None = None) -> None:
        """Stop gracefully: take no new run, let in-flight steps finish for ``grace_s`` seconds
        (default FLOWMATE_WORKER_SHUTDOWN_GRACE_SECONDS) while lease renewal keeps their leases,
        then hand every run still unfinished back to the queue so another worker resumes it at
        once (the lease-renewal duty does that when the worker has shut down)."""
        with self._lock:
            if not self._started:
                return
            grace = self.settings.worker_shutdown_grace_seconds if grace_s is None else grace_s
            self.leases.draining.set()
            if self._worker is not None:
                worker, self._worker = self._worker, None
                worker.stop(timeout=max(1, int(grace * 1000)))
                self.broker.middleware = [m for m in self.broker.middleware if getattr(m, "worker", None) is not worker]
            else:
                for duty in self.duties:
                    duty.before_worker_shutdown(self.broker, self)
                for duty in self.duties:
                    duty.after_worker_shutdown(self.broker, self)
            self.broker.middleware = [m for m in self.broker.middleware if m not in self.duties]
            for name, actor in self.actors.items():
                if self.broker.actors.get(name) is actor:
                    del self.broker.actors[name]
            self.actors.clear()
            self.leases.draining.clear()  # this runtime may start again (tests, embedded mode)
            self._started = False
            log.info("runtime.stopped", worker_id=self.worker_id)

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
