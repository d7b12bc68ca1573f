"""Worker liveness: each process that runs Dramatiq worker threads says so on every heartbeat.

The beat is written where the broker lives. With Redis, a key ``<namespace>:worker:<worker id>``
with a TTL of three heartbeats, so ``GET /api/health`` in any web process sees workers on any
machine; a killed worker's key just expires. With the in-process StubBroker (embedded mode) the
worker threads live in this very process, so the same table is kept in memory here: worker id
→ expiry, written by the beat and cleared when the worker stops.

The beat is sent by the runtime's ``LivenessBeat`` duty (engine.duties); readers (the health
endpoint, ``flowmate health --worker``, the metrics collector) only need the broker.
"""

from __future__ import annotations

import threading
import time

import dramatiq
from dramatiq.brokers.stub import StubBroker

from engine.config import Settings, get_settings
from engine.queue import setup_broker

#: In-process beats (StubBroker only): worker id → monotonic expiry.
_local: dict[str, float] = {}
_local_lock = threading.Lock()


def ttl(settings: Settings | None = None) -> int:
    return max(5, int((settings or get_settings()).heartbeat_seconds * 3))


def beat(worker_id: str, broker: dramatiq.Broker | None = None, settings: Settings | None = None) -> None:
    """Report ``worker_id`` alive for three heartbeats."""
    settings = settings or get_settings()
    broker = broker or setup_broker(settings)
    if isinstance(broker, StubBroker):
        with _local_lock:
            _local[worker_id] = time.monotonic() + ttl(settings)
        return
    client = broker.client  # type: ignore[attr-defined]
    client.set(f"{broker.namespace}:worker:{worker_id}", str(time.time()), ex=ttl(settings))  # type: ignore[attr-defined]


def forget(worker_id: str) -> None:
    """A stopped in-process worker is no longer alive (a Redis key just expires, as for a crash)."""
    with _local_lock:
        _local.pop(worker_id, None)


def live_worker_ids(broker: dramatiq.Broker | None = None) -> list[str]:
    """The ids (``host:pid:suffix``) of the live worker processes, sorted.

    ``/api/health`` lists them so an operator sees which machines are executing runs, and
    ``flowmate health --worker`` uses them to tell whether this machine's worker is alive.
    """
    broker = broker or setup_broker()
    if isinstance(broker, StubBroker):
        now = time.monotonic()
        with _local_lock:
            return sorted(wid for wid, expires in _local.items() if expires > now)
    client = broker.client  # type: ignore[attr-defined]
    prefix = f"{broker.namespace}:worker:"  # type: ignore[attr-defined]
    keys = client.scan_iter(match=f"{prefix}*", count=1000)
    return sorted(key.decode()[len(prefix):] if isinstance(key, bytes) else key[len(prefix):] for key in keys)


def live_workers(broker: dramatiq.Broker | None = None) -> int:
    """How many worker processes are alive (embedded mode: 1 when this process runs workers)."""
    return len(live_worker_ids(broker))
