"""Per-key rate limiting (the ``limits`` library) and one-time markers (HMAC replay protection).

With FLOWMATE_REDIS_URL set, counters live in Redis so every web process shares them; without
it (the embedded default, one process), they live in memory. When Redis is unreachable the
limiter falls back to this process's own counters instead of failing the request: runs are
durable in the database, so webhook intake keeps accepting through a Redis outage.

One-time markers live in the database (table ``replaymarker``): a replayed signature is refused
even after a Redis flush, and checking one needs no Redis.

"50 per second, burst 100" is expressed as a sliding window of ``rate × window`` requests per
``window`` seconds, with ``window = burst / rate`` (2 s by default): an idle token may send 100
requests at once, and over any longer stretch it averages 50/s. The sliding-window counter costs
O(1) per request (two counters) in memory and in Redis.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import structlog
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter

from engine.config import Settings, get_settings

log = structlog.get_logger("flowmate.ratelimit")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0
    remaining: int = 0


class RateLimiter:
    """Hit-and-check for a key (e.g. a webhook token) against the configured rate and burst."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        rate = max(1, settings.webhook_rate_per_second)
        burst = max(rate, settings.webhook_rate_burst)
        window = max(1, round(burst / rate))
        self.item = RateLimitItemPerSecond(rate * window, window)
        self.namespace = settings.redis_namespace
        self.storage: Storage
        if settings.redis_url:
            self.storage = RedisStorage(settings.redis_url, key_prefix=f"{settings.redis_namespace}:ratelimit",
                                        socket_connect_timeout=1, socket_timeout=1)
        else:
            self.storage = MemoryStorage()
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        #: This process's own counters, used while the shared storage is unreachable.
        self.local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._warned_at = 0.0

    def hit(self, key: str) -> Decision:
        limiter = self.limiter
        try:
            if limiter.hit(self.item, key):
                return Decision(True)
        except Exception as exc:  # Redis down: limit per process rather than refuse every call
            now = time.monotonic()
            if now - self._warned_at > 30:
                self._warned_at = now
                log.warning("ratelimit.shared_storage_unavailable", error=type(exc).__name__)
            limiter = self.local
            if limiter.hit(self.item, key):
                return Decision(True)
        stats = limiter.get_window_stats(self.item, key)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return Decision(False, retry_after=min(retry, self.item.get_expiry()), remaining=stats.remaining)


class OnceMarker:
    """``first(key, ttl)`` is True only the first time a key is seen within ``ttl`` seconds.

    Used to refuse a replayed webhook signature: one INSERT into ``replaymarker`` (primary key
    = the key), shared by every web process and independent of Redis. A marker whose time is up
    counts as unseen (and is replaced); the sweeper deletes old ones.
    """

    def first(self, key: str, ttl: int) -> bool:
        from sqlalchemy import delete, insert
        from sqlalchemy.exc import IntegrityError

        from engine.db import db_clock, get_engine, utcnow
        from engine.models import ReplayMarker

        table = ReplayMarker.__table__
        try:
            with get_engine().begin() as conn:
                conn.execute(insert(table).values(key=key, expires_at=utcnow() + timedelta(seconds=ttl)))
            return True
        except IntegrityError:
            pass
        with get_engine().begin() as conn:  # seen before: only a marker whose time is up may be reused
            gone = conn.execute(delete(table).where(table.c.key == key, table.c.expires_at < db_clock(0.0))).rowcount
            if gone:
                conn.execute(insert(table).values(key=key, expires_at=utcnow() + timedelta(seconds=ttl)))
        return bool(gone)


def expire_replay_markers() -> int:
    """Delete markers whose time is up (called by the sweeper)."""
    from sqlalchemy import delete

    from engine.db import db_clock, get_engine
    from engine.models import ReplayMarker

    table = ReplayMarker.__table__
    with get_engine().begin() as conn:
        return conn.execute(delete(table).where(table.c.expires_at < db_clock(0.0))).rowcount or 0


_lock = threading.Lock()
_instances: dict[tuple[str, str | None, int, int], tuple[RateLimiter, OnceMarker]] = {}


def _get(settings: Settings | None = None) -> tuple[RateLimiter, OnceMarker]:
    settings = settings or get_settings()
    key = (settings.redis_namespace, settings.redis_url, settings.webhook_rate_per_second, settings.webhook_rate_burst)
    found = _instances.get(key)
    if found is None:
        with _lock:
            found = _instances.get(key)
            if found is None:
                found = (RateLimiter(settings), OnceMarker())
                _instances[key] = found
    return found


def webhook_limiter(settings: Settings | None = None) -> RateLimiter:
    """The process-wide limiter for the current settings (tests change settings between cases)."""
    return _get(settings)[0]


def once_marker(settings: Settings | None = None) -> OnceMarker:
    return _get(settings)[1]
