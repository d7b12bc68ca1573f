"""Background duties of a runtime, as Dramatiq middleware: lease renewal, liveness, sweeper, ...

Each duty calls one plain function on an interval, on a daemon thread of its own, while the
Dramatiq worker it belongs to runs. Like Dramatiq's own ``TimeLimit`` middleware (whose timeout
manager is a daemon thread started from a lifecycle hook), the thread is started by a hook:
``after_worker_boot``, and stopped in ``before_worker_shutdown``. Duties that must outlive the
worker threads (``stop_after_workers``) stop in ``after_worker_shutdown`` instead:

- lease renewal keeps the leases of in-flight runs while they finish during the shutdown grace
  period, then hands every run still held back to the queue;
- the liveness beat keeps this worker reported alive while it drains, then forgets it;
- the usage flush writes what the last runs counted.

A duty only answers the hooks of the worker that booted it (``owner``), so two runtimes on one
broker (tests) never stop each other's threads. The scheduler process, which consumes no queue,
drives the same hooks itself (engine.runtime.Runtime.start without a worker).

The functions they call stay plain and testable alone: ``maintenance.sweep_once``,
``scheduler.tick(now)``, ``Executor.renew_leases`` ...
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

import dramatiq
import structlog
from dramatiq.middleware import Middleware

from engine import liveness, maintenance, scheduler
from engine.config import Settings
from engine.services.audit_stream import deliver_streams
from engine.services.exports import run_export_duty
from engine.services.retention import run_retention_duty
from engine.services.usage import flush_usage

log = structlog.get_logger("flowmate.duties")

#: Key expiry runs once every this many sweeps (about an hour at the default 15 s sweep).
SWEEPS_PER_KEY_EXPIRY = 240


class PeriodicDuty(Middleware):
    """Call :meth:`run_once` every ``interval`` seconds between a worker's boot and shutdown."""

    name: ClassVar[str] = "duty"
    #: Stop in ``after_worker_shutdown`` (after the worker threads finished) instead of before.
    stop_after_workers: ClassVar[bool] = False
    #: Run once as soon as the worker boots, not only after the first interval.
    run_at_start: ClassVar[bool] = False

    def __init__(self, interval: float, work: Callable[[], Any]) -> None:
        self.interval = interval
        self.work = work
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owner: object | None = None

    # -- Dramatiq hooks ---------------------------------------------------------------------

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self.start(worker)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        if not self.stop_after_workers:
            self.stop(worker)

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        if self.stop_after_workers:
            self.stop(worker)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, owner: object) -> None:
        if self._thread is not None:
            return
        self._owner = owner
        self._stop.clear()
        if self.run_at_start:
            self.run_once()
        self._thread = threading.Thread(target=self._loop, name=f"flowmate-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, owner: object) -> None:
        if self._thread is None or owner is not self._owner:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._thread = self._owner = None
        try:
            self.on_stop()
        except Exception:
            log.exception(f"{self.name}.stop_failed")

    def on_stop(self) -> None:
        """Last work once the thread has stopped (nothing by default)."""

    def run_once(self) -> Any:
        """One round of the duty; an error is logged and the next round tries again."""
        try:
            return self.work()
        except Exception:
            log.exception(f"{self.name}.error")
            return None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()


class LeaseRenewal(PeriodicDuty):
    """Renew the lease of every run the executor holds; on shutdown hand the rest back."""

    name = "heartbeat"
    stop_after_workers = True

    def __init__(self, executor: Any, interval: float) -> None:
        super().__init__(interval, executor.renew_leases)
        self.executor = executor

    def on_stop(self) -> None:
        try:
            self.executor.hand_off_held_runs()
        except Exception:  # the database is gone: the leases expire and the sweeper resumes them
            log.exception("worker.hand_off_failed")


class LivenessBeat(PeriodicDuty):
    """Report this worker alive (engine.liveness) at boot and on every heartbeat."""

    name = "liveness"
    stop_after_workers = True
    run_at_start = True  # a new worker is alive at once, not after its first beat

    def __init__(self, worker_id: str, broker: dramatiq.Broker, settings: Settings) -> None:
        super().__init__(settings.heartbeat_seconds, lambda: liveness.beat(worker_id, broker, settings))
        self.worker_id = worker_id

    def on_stop(self) -> None:
        liveness.forget(self.worker_id)


class UsageFlush(PeriodicDuty):
    """Write buffered usage counts every second, and once more after the last run."""

    name = "usage"
    stop_after_workers = True

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__(interval, flush_usage)

    def on_stop(self) -> None:
        flush_usage()


class Sweeper(PeriodicDuty):
    """Re-enqueue runs that should be executing but may have lost their message."""

    name = "sweeper"

    def __init__(self, interval: float) -> None:
        super().__init__(interval, maintenance.sweep_once)


class KeyExpiry(PeriodicDuty):
    """Forget expired webhook idempotency keys and replay markers."""

    name = "key-expiry"

    def __init__(self, interval: float) -> None:
        super().__init__(interval, maintenance.expire_keys)


class CronTick(PeriodicDuty):
    """Fire due time-based triggers (``scheduler.tick``)."""

    name = "scheduler"

    def __init__(self, interval: float, tick: Callable[[], Any] = scheduler.tick) -> None:
        super().__init__(interval, tick)


class ExportDuty(PeriodicDuty):
    name = "exports"

    def __init__(self, interval: float) -> None:
        super().__init__(interval, run_export_duty)


class RetentionDuty(PeriodicDuty):
    name = "retention"

    def __init__(self, interval: float) -> None:
        super().__init__(interval, run_retention_duty)


class AuditStreamDuty(PeriodicDuty):
    name = "audit-stream"

    def __init__(self, interval: float) -> None:
        super().__init__(interval, deliver_streams)


def maintenance_duties(settings: Settings, *, cron: bool) -> list[PeriodicDuty]:
    """The duties every runtime runs (sweeper, usage, exports, ...), plus cron when asked."""
    duties: list[PeriodicDuty] = [
        UsageFlush(1.0), Sweeper(settings.sweep_interval_seconds),
        KeyExpiry(settings.sweep_interval_seconds * SWEEPS_PER_KEY_EXPIRY),
        ExportDuty(settings.export_poll_seconds), RetentionDuty(settings.retention_interval_seconds),
        AuditStreamDuty(settings.audit_stream_interval_seconds),
    ]
    if cron:
        duties.append(CronTick(settings.scheduler_interval_seconds))
    return duties
