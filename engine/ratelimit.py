"""Per-key rate limiting (the ``limits`` library) and one-time markers (HMAC replay protection).

With FLOWMATE_REDIS_URL set, counters live in Redis so every web process shares them; without
it (the embedded default, one process), they live in memory.

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
from typing import Any

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter

from engine.config import Settings, get_settings


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
            self.storage = RedisStorage(settings.redis_url, key_prefix=f"{settings.redis_namespace}:ratelimit")
        else:
            self.storage = MemoryStorage()
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)

    def hit(self, key: str) -> Decision:
        if self.limiter.hit(self.item, key):
            return Decision(True)
        stats = self.limiter.get_window_stats(self.item, key)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return Decision(False, retry_after=min(retry, self.item.get_expiry()), remaining=stats.remaining)


class OnceMarker:
    """``first(key, ttl)`` is True only the first time a key is seen within ``ttl`` seconds.

    Used to refuse a replayed webhook signature. Redis ``SET NX EX`` when configured (shared by
    all web processes), a small expiring dict otherwise.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.prefix = f"{settings.redis_namespace}:once:"
        self._client: Any = None
        if settings.redis_url:
            import redis

            self._client = redis.Redis.from_url(settings.redis_url)
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first(self, key: str, ttl: int) -> bool:
        if self._client is not None:
            return bool(self._client.set(self.prefix + key, b"1", nx=True, ex=ttl))
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 50_000:
                self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
            expires = self._seen.get(key)
            if expires is not None and expires > now:
                return False
            self._seen[key] = now + ttl
            return True


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
                found = (RateLimiter(settings), OnceMarker(settings))
                _instances[key] = found
    return found


def webhook_limiter(settings: Settings | None = None) -> RateLimiter:
    """The process-wide limiter for the current settings (tests change settings between cases)."""
    return _get(settings)[0]


def once_marker(settings: Settings | None = None) -> OnceMarker:
    return _get(settings)[1]
