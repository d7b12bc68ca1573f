"""The live change bus: "run X (workspace W) is now S" and "step K of run X is now S".

Why: open pages (run detail, runs list, dashboard, the builder's test panel) used to re-read the
database every 1-2.5 s per tab to notice a change. Now the writers that change a run (run
creation, the executor's step and run writes) publish a small message here after their
transaction committed, and each web process listens once and wakes the sessions that care.

The contract (docs/architecture.md, "Live updates"):

- A message is a flat dict of ids, statuses and counts: ``kind`` ("run" or "step"), ``run_id``,
  ``workspace_id``, ``workflow_id``, ``status``, and for steps ``step_key`` and ``attempts``.
  Never a payload, an input, an output, an error text or a header: a subscriber that needs more
  reads it through the services, scoped by its own actor. ``_clean`` drops every other field.
- Delivery is best effort and at most once. A message is published after the commit, so a
  subscriber that re-reads finds the change; a lost message (Redis restarting, a process that
  publishes while Redis is down) is covered by the subscribers' slow fallback poll.
- Transport: Redis pub/sub on ``<namespace>:live`` when ``FLOWMATE_REDIS_URL`` is set (web and
  workers are separate processes, maybe separate machines); otherwise in-process callbacks (the
  embedded web process runs its own workers). Publishing never raises and never waits for Redis:
  it hands the message to one publisher thread per process, which sends what has piled up in one
  pipeline (a worker's step write must not pay a network round trip per message; that cost the
  engine bench a quarter of its in-process throughput). The outbox is bounded: a stalled Redis
  drops messages rather than growing memory. After a Redis error it stays quiet for a few seconds
  instead of retrying every step.
- One subscription per process (``subscribe``): a web process opens ONE Redis connection for
  all of its sessions and fans out in memory (``flowmate_app/live.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from engine.config import Settings, get_settings

log = structlog.get_logger("flowmate.bus")

Message = dict[str, Any]
Callback = Callable[[Message], None]

#: The only fields a message may carry (ids, statuses, counts).
FIELDS = ("kind", "run_id", "workspace_id", "workflow_id", "status", "step_key", "attempts", "steps")
#: After a failed Redis publish, skip publishing for this long (the fallback poll covers the gap).
QUIET_AFTER_ERROR_S = 5.0
#: Messages waiting for the publisher thread; more are dropped (best effort, see above).
OUTBOX_MAX = 10_000
#: The most messages one pipeline sends.
PIPELINE_MAX = 500
#: After the first waiting message, the publisher gathers more for this long: one pipeline per
#: few milliseconds instead of one wake-up and round trip per message.
LINGER_S = 0.005


def _clean(message: Message) -> Message:
    out: Message = {}
    for key in FIELDS:
        value = message.get(key)
        if value is None:
            continue
        out[key] = value if isinstance(value, int) and not isinstance(value, bool) else str(value)
    return out


def channel(settings: Settings) -> str:
    return f"{settings.redis_namespace}:live"


class LocalBus:
    """In-process delivery: ``publish`` calls every callback on the publishing thread."""

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []
        self._lock = threading.Lock()

    def publish(self, message: Message) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(message)
            except Exception:  # a subscriber's bug must never fail the writer
                log.exception("bus.callback_failed")

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def close(self) -> None:
        with self._lock:
            self._callbacks.clear()


class RedisBus(LocalBus):
    """Redis pub/sub: publish is one PUBLISH; the first ``subscribe`` starts one listener thread
    that delivers every message to this process's callbacks (reconnecting after an outage)."""

    def __init__(self, url: str, channel_name: str) -> None:
        super().__init__()
        import redis

        self._redis = redis
        self.channel = channel_name
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self._listen_client = redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=10)
        self._quiet_until = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._outbox: queue.Queue[Message | None] = queue.Queue(OUTBOX_MAX)
        self._publisher: threading.Thread | None = None
        self._publisher_pid = 0

    def publish(self, message: Message) -> None:
        if time.monotonic() < self._quiet_until:
            return
        self._ensure_publisher()
        with contextlib.suppress(queue.Full):  # Redis cannot keep up: drop (the fallback poll covers it)
            self._outbox.put_nowait(message)

    def _ensure_publisher(self) -> None:
        """Start this process's publisher thread (again in a forked child: threads do not fork)."""
        pid = os.getpid()
        if self._publisher is not None and self._publisher_pid == pid:
            return
        with self._lock:
            if self._publisher is None or self._publisher_pid != pid:
                if self._publisher_pid != pid and self._publisher_pid:
                    self._outbox = queue.Queue(OUTBOX_MAX)  # the parent's messages are the parent's
                self._publisher_pid = pid
                self._publisher = threading.Thread(target=self._publish_loop, name="flowmate-bus-publish",
                                                   daemon=True)
                self._publisher.start()

    def _publish_loop(self) -> None:
        while True:
            try:
                first = self._outbox.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            batch, last = [first], first is None
            if not last:
                time.sleep(LINGER_S)
            while not last and len(batch) < PIPELINE_MAX:
                try:
                    item = self._outbox.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
                last = item is None
            messages = [m for m in batch if m is not None]
            if messages and time.monotonic() >= self._quiet_until:
                try:
                    pipe = self._client.pipeline(transaction=False)
                    for message in messages:
                        pipe.publish(self.channel, json.dumps(message, separators=(",", ":")))
                    pipe.execute()
                except self._redis.RedisError as exc:
                    self._quiet_until = time.monotonic() + QUIET_AFTER_ERROR_S
                    log.warning("bus.publish_failed", error=type(exc).__name__)
            if last:
                return

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        unsubscribe = super().subscribe(callback)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="flowmate-bus", daemon=True)
                self._thread.start()
        return unsubscribe

    def _listen(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            pubsub = self._listen_client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                backoff = 0.2
                while not self._stop.is_set():
                    raw = pubsub.get_message(timeout=1.0)
                    if raw is None or raw.get("type") != "message":
                        continue
                    try:
                        message = json.loads(raw["data"])
                    except (TypeError, ValueError):
                        continue
                    if isinstance(message, dict):
                        LocalBus.publish(self, _clean(message))
            except self._redis.RedisError as exc:
                log.warning("bus.listen_failed", error=type(exc).__name__)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):  # closing a broken connection
                    pubsub.close()

    def close(self) -> None:
        """Send what is waiting (briefly), then stop both threads."""
        self._stop.set()
        if self._publisher is not None and self._publisher_pid == os.getpid():
            with contextlib.suppress(queue.Full):
                self._outbox.put(None, timeout=1)
            self._publisher.join(timeout=3)
        super().close()
        if self._thread is not None:
            self._thread.join(timeout=3)


_bus: LocalBus | None = None
_bus_key: tuple[str | None, str] | None = None
_bus_lock = threading.Lock()


def get_bus(settings: Settings | None = None) -> LocalBus:
    """This process's bus for the current settings (Redis when configured, else in-process)."""
    global _bus, _bus_key
    settings = settings or get_settings()
    key = (settings.redis_url, settings.redis_namespace)
    with _bus_lock:
        if _bus is None or _bus_key != key:
            if _bus is not None:
                _bus.close()
            _bus = RedisBus(settings.redis_url, channel(settings)) if settings.redis_url else LocalBus()
            _bus_key = key
        return _bus


def reset_bus() -> None:
    """Forget the bus (tests that switch settings; a forked worker process)."""
    global _bus, _bus_key
    with _bus_lock:
        if _bus is not None:
            _bus.close()
        _bus, _bus_key = None, None


def publish(kind: str, **fields: Any) -> None:
    """Tell subscribers a run or step changed. Never raises: the change is already committed."""
    try:
        get_bus().publish(_clean({"kind": kind, **fields}))
    except Exception:  # noqa: BLE001 - a live update is never worth failing a run
        log.warning("bus.publish_error")


def run_changed(run_id: str, status: Any, *, workspace_id: str | None, workflow_id: str | None = None,
                steps: int | None = None) -> None:
    publish("run", run_id=run_id, status=getattr(status, "value", status), workspace_id=workspace_id,
            workflow_id=workflow_id, steps=steps)


def step_changed(run_id: str, step_key: str, status: Any, *, attempts: int | None, workspace_id: str | None,
                 workflow_id: str | None = None) -> None:
    publish("step", run_id=run_id, step_key=step_key, status=getattr(status, "value", status),
            attempts=attempts, workspace_id=workspace_id, workflow_id=workflow_id)


def subscribe(callback: Callback) -> Callable[[], None]:
    """Receive every message in this process (on a bus thread or the publisher's thread)."""
    return get_bus().subscribe(callback)
