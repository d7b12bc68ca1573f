"""Worker liveness: each process that runs Dramatiq worker threads says so on every heartbeat.

With Redis, a key ``<namespace>:worker:<worker id>`` with a TTL of three heartbeats, so
``GET /api/health`` in any web process sees workers on any machine; a killed worker's key just
expires. In the embedded mode the worker threads live in the web process itself, so an
in-process timestamp is enough.
"""

from __future__ import annotations

import time

from engine.config import get_settings

_last_beat: float | None = None


def _ttl() -> int:
    return max(5, int(get_settings().heartbeat_seconds * 3))


def beat() -> None:
    """Called by the heartbeat thread of a process that runs worker threads."""
    global _last_beat
    from engine.executor import worker_id

    _last_beat = time.monotonic()
    settings = get_settings()
    if settings.redis_url:
        from engine.queue import setup_broker

        client = setup_broker().client  # type: ignore[attr-defined]
        client.set(f"{settings.redis_namespace}:worker:{worker_id()}", str(time.time()), ex=_ttl())


def local_worker_alive() -> bool:
    """Are worker threads running in this process (with a recent beat, or just started)?"""
    from engine import queue

    worker = queue._embedded_worker
    if worker is None:
        return False
    return _last_beat is None or time.monotonic() - _last_beat < _ttl()


def live_workers() -> int:
    """How many worker processes are alive (embedded mode: 1 when this process runs workers)."""
    settings = get_settings()
    if not settings.redis_url:
        return 1 if local_worker_alive() else 0
    from engine.queue import setup_broker

    client = setup_broker().client  # type: ignore[attr-defined]
    return sum(1 for _ in client.scan_iter(match=f"{settings.redis_namespace}:worker:*", count=1000))


def live_worker_ids() -> list[str]:
    """The ids (``host:pid:suffix``) of the live worker processes, sorted; embedded mode: this one.

    ``/api/health`` lists them so an operator sees which machines are executing runs, and
    ``flowmate health --worker`` uses them to tell whether this machine's worker is alive.
    """
    settings = get_settings()
    if not settings.redis_url:
        from engine.executor import worker_id

        return [worker_id()] if local_worker_alive() else []
    from engine.queue import setup_broker

    client = setup_broker().client  # type: ignore[attr-defined]
    prefix = f"{settings.redis_namespace}:worker:"
    keys = client.scan_iter(match=f"{prefix}*", count=1000)
    return sorted(key.decode()[len(prefix):] if isinstance(key, bytes) else key[len(prefix):] for key in keys)
