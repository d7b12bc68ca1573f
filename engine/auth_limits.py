"""Throttles for sign-in, sign-up and the REST API: login attempts and failures per account and per
client, sign-ups per client, other account e-mails (reset, invitation, verification) through
:meth:`AuthThrottles.attempt`, and API calls per token.

Counters live in Redis when FLOWMATE_REDIS_URL is set (every web process sees the same
counts), in memory otherwise (the embedded default is one process). If Redis stops answering,
the counters fall back to this process's memory rather than failing every login.

Lockout never tells accounts apart: failures are counted per email *string*, whether or not
an account has it, and a locked pair gets the same answer for a real and a made-up address.
The account lock is per (email, client), so someone guessing from one network cannot lock the
real person out from theirs; a much higher per-email ceiling slows guessing spread over many
clients, and a per-client ceiling stops one client from trying many accounts.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter, RateLimiter, SlidingWindowCounterRateLimiter

from engine.config import Settings, get_settings

log = structlog.get_logger("flowmate.auth_limits")
T = TypeVar("T")
REDIS_RETRY_S = 10.0
_redis_down_until = [0.0]  # monotonic time before which Redis is not tried again (this process)


class Throttle:
    """One kind of attempt (``name``) limited by a rate string such as ``"5/5minutes"``."""

    def __init__(self, name: str, rate: str, storage: Storage, fallback: Storage,
                 strategy: type[RateLimiter] = MovingWindowRateLimiter) -> None:
        self.name = name
        self.items: list[RateLimitItem] = list(parse_many(rate))
        self._limiter = strategy(storage)
        self._fallback = strategy(fallback)
        self._shared = storage is not fallback

    def _call(self, fn: Callable[[RateLimiter], T]) -> T:
        if self._shared and time.monotonic() >= _redis_down_until[0]:
            try:
                return fn(self._limiter)
            except Exception as exc:  # Redis down: keep throttling in this process
                # Do not wait on a dead Redis for every attempt: retry it after a short pause.
                _redis_down_until[0] = time.monotonic() + REDIS_RETRY_S
                log.warning("auth_limits.storage_unavailable", throttle=self.name, error=exc.__class__.__name__)
        return fn(self._fallback)

    def retry_after(self, key: str) -> int:
        """Seconds until one more attempt is allowed (0: allowed now)."""

        def check(limiter: RateLimiter) -> int:
            wait = 0
            for item in self.items:
                if not limiter.test(item, self.name, key):
                    stats = limiter.get_window_stats(item, self.name, key)
                    wait = max(wait, math.ceil(stats.reset_time - time.time()), 1)
            return wait

        return self._call(check)

    def hit(self, key: str) -> None:
        def count(limiter: RateLimiter) -> None:
            for item in self.items:
                limiter.hit(item, self.name, key)

        self._call(count)

    def clear(self, key: str) -> None:
        def reset(limiter: RateLimiter) -> None:
            for item in self.items:
                limiter.clear(item, self.name, key)

        self._call(reset)

    def take(self, key: str) -> Usage:
        """Count one request and say whether it was allowed, with what the RateLimit headers show."""

        def go(limiter: RateLimiter) -> Usage:
            item = self.items[0]
            allowed = all([limiter.hit(i, self.name, key) for i in self.items])
            stats = limiter.get_window_stats(item, self.name, key)
            reset = max(1, math.ceil(stats.reset_time - time.time()))
            return Usage(allowed, item.amount, max(0, stats.remaining), reset)

        return self._call(go)


@dataclass(frozen=True)
class Usage:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        """RateLimit-* (IETF draft, as most APIs send them) and Retry-After on a refusal."""
        out = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
               "RateLimit-Reset": str(self.reset_s)}
        if not self.allowed:
            out["Retry-After"] = str(self.reset_s)
        return out


@dataclass(frozen=True)
class AuthThrottles:
    per_account: Throttle  # key: email + client
    per_email: Throttle  # key: email
    per_client: Throttle  # key: client
    signups: Throttle  # key: client
    login_attempts_client: Throttle  # key: client; every attempt, right or wrong
    login_attempts_account: Throttle  # key: email
    api_calls: Throttle  # key: token id / session user
    storage: Storage
    fallback: Storage
    named: dict[tuple[str, str], Throttle] = field(default_factory=dict)

    def attempt(self, name: str, key: str, rate: str) -> int:
        """Count an attempt of kind ``name`` (e.g. ``"reset-ip"``) against ``rate``; seconds to wait
        when over (the attempt is then refused and not counted). For the account e-mail flows."""
        with _lock:
            throttle = self.named.get((name, rate))
            if throttle is None:
                throttle = self.named[(name, rate)] = Throttle(name, rate, self.storage, self.fallback)
        wait = throttle.retry_after(key)
        if not wait:
            throttle.hit(key)
        return wait

    def flow(self, flow: str, client: str, address: str = "", settings: Settings | None = None) -> int:
        """Count one use of an account flow (``reset``, ``verify``, ``invite``, ``delete``, ``oidc``) per client IP,
        and when given per address (real or not: counted by the typed string, so the answer reveals
        nothing). Returns the seconds to wait when over either limit (that use is then refused)."""
        s = settings or get_settings()
        per_ip, per_address = FLOW_RATES[flow](s)
        wait = self.attempt(f"{flow}-ip", client, per_ip)
        if not wait and address:
            wait = self.attempt(f"{flow}-address", email_key(address), per_address)
        return wait

    def api_call(self, key: str) -> Usage:
        return self.api_calls.take(key)

    # ----------------------------------------------------------------- logins

    def login_attempt_wait(self, email: str, client: str) -> int:
        """Count a login attempt (right or wrong) per client and per email; seconds to wait when
        attempts come too fast (the attempt is then refused, uncounted, before any hashing)."""
        e = email_key(email)
        for throttle, key in ((self.login_attempts_client, client), (self.login_attempts_account, e)):
            wait = throttle.retry_after(key)
            if wait:
                return wait
        self.login_attempts_client.hit(client)
        self.login_attempts_account.hit(e)
        return 0

    def login_retry_after(self, email: str, client: str) -> int:
        """Seconds the failure lockouts still hold this email/client (0 = check the password)."""
        e = email_key(email)
        return max(self.per_account.retry_after(f"{e}|{client}"), self.per_email.retry_after(e),
                   self.per_client.retry_after(client))

    def login_failed(self, email: str, client: str) -> None:
        e = email_key(email)
        self.per_account.hit(f"{e}|{client}")
        self.per_email.hit(e)
        self.per_client.hit(client)

    def login_succeeded(self, email: str, client: str) -> None:
        """The right password from this client: its failures for this account are forgiven."""
        self.per_account.clear(f"{email_key(email)}|{client}")

    # ----------------------------------------------------------------- sign-ups

    def signup_attempt(self, client: str) -> int:
        """Count a sign-up attempt; seconds to wait when over the limit (the attempt is refused)."""
        wait = self.signups.retry_after(client)
        if wait:
            return wait
        self.signups.hit(client)
        return 0


#: flow -> (per client IP, per address) rate strings, from the settings.
FLOW_RATES: dict[str, Callable[[Settings], tuple[str, str]]] = {
    "reset": lambda s: (s.account_rate_limit, s.account_rate_limit_per_address),
    "verify": lambda s: (s.account_rate_limit, s.account_rate_limit_per_address),
    "invite": lambda s: (s.account_rate_limit, s.account_rate_limit_per_address),
    "delete": lambda s: (s.account_rate_limit, s.account_rate_limit_per_address),
    "oidc": lambda s: (s.oidc_rate_limit, s.oidc_rate_limit),
}


class TooManyAttempts(Exception):
    """An account flow used too often from one network or for one address: answer 429 + Retry-After."""

    def __init__(self, retry_after: int, what: str = "requests") -> None:
        minutes = max(1, -(-retry_after // 60))
        super().__init__(f"Too many {what} from your network or for this address. Try again in {minutes} "
                         f"minute{'s' if minutes > 1 else ''}.")
        self.retry_after = retry_after


def check_flow(flow: str, client: str, address: str = "", what: str = "requests") -> None:
    """Raise :class:`TooManyAttempts` when this use of ``flow`` is over its limit."""
    wait = throttles().flow(flow, client, address)
    if wait:
        raise TooManyAttempts(wait, what)


def email_key(email: str) -> str:
    """Counters are keyed by a hash: Redis never holds the addresses people typed."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


_lock = threading.Lock()
_instances: dict[tuple[object, ...], AuthThrottles] = {}


def throttles(settings: Settings | None = None) -> AuthThrottles:
    """The process-wide throttles for the current settings (tests change settings between cases)."""
    settings = settings or get_settings()
    key = (settings.redis_url, settings.redis_namespace, settings.login_failures_per_account,
           settings.login_failures_per_email, settings.login_failures_per_client, settings.signup_rate_limit,
           settings.login_rate_limit, settings.login_account_rate_limit, settings.api_rate_limit)
    with _lock:
        found = _instances.get(key)
        if found is None:
            fallback: Storage = MemoryStorage()
            storage: Storage = fallback
            if settings.redis_url:
                storage = RedisStorage(settings.redis_url, key_prefix=f"{settings.redis_namespace}:authlimit",
                                       socket_connect_timeout=1, socket_timeout=1)
            found = AuthThrottles(
                per_account=Throttle("login-account", settings.login_failures_per_account, storage, fallback),
                per_email=Throttle("login-email", settings.login_failures_per_email, storage, fallback),
                per_client=Throttle("login-client", settings.login_failures_per_client, storage, fallback),
                signups=Throttle("signup-client", settings.signup_rate_limit, storage, fallback),
                login_attempts_client=Throttle("login-rate-client", settings.login_rate_limit, storage, fallback),
                login_attempts_account=Throttle("login-rate-email", settings.login_account_rate_limit, storage,
                                                fallback),
                api_calls=Throttle("api-token", settings.api_rate_limit, storage, fallback,
                                   strategy=SlidingWindowCounterRateLimiter),
                storage=storage,
                fallback=fallback,
            )
            _instances[key] = found
        return found

