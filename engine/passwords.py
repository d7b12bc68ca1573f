"""Password hashing (argon2) and the small thread pool it runs in.

argon2 is deliberately expensive (tens of milliseconds of CPU per check). Run on an event loop,
a flood of logins stalls every webhook and page in that process; run in an unbounded pool, it
takes every core. So web handlers never call argon2 themselves: they hand the whole password
step to :func:`run_bounded`, which runs it on at most ``FLOWMATE_PASSWORD_HASH_THREADS``
threads and lets at most ``FLOWMATE_PASSWORD_HASH_QUEUE`` more wait; beyond that it refuses at
once (:class:`PasswordWorkBusy`, answered 503) instead of queueing without end.

argon2-cffi releases the GIL while hashing, so the event loop keeps serving meanwhile. The hash
threads also run "nice" (Linux: per-thread priority): when the CPU is saturated, webhook intake
and pages go first and a login waits a little longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine.config import get_settings
from engine.errors import FlowMateError

T = TypeVar("T")

_hasher = PasswordHasher()
#: A real hash of a random string: checking a password against it costs what a real check costs,
#: so "no such user" takes as long as "wrong password".
_DUMMY_HASH = _hasher.hash("flowmate timing equaliser: never a real password")


class PasswordWorkBusy(FlowMateError):
    """Too many password checks are already waiting: the caller should retry shortly (503)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; a malformed stored hash is a mismatch, never an error."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False


def burn_verify(password: str) -> None:
    """Spend exactly the time of a failed check (for unknown accounts)."""
    verify_password(_DUMMY_HASH, password)


HASH_THREAD_NICE = 10


def _lower_thread_priority() -> None:
    """On Linux a thread id is a scheduling entity: this lowers only the hash thread."""
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + HASH_THREAD_NICE))


class _Pool:
    def __init__(self, threads: int, queue: int) -> None:
        self.threads, self.queue = threads, queue
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="flowmate-argon2",
                                           initializer=_lower_thread_priority)
        self._slots = threading.BoundedSemaphore(threads + queue)


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _get_pool() -> _Pool:
    global _pool
    settings = get_settings()
    threads, queue = settings.password_hash_threads, settings.password_hash_queue
    with _pool_lock:
        if _pool is None or (_pool.threads, _pool.queue) != (threads, queue):
            old, _pool = _pool, _Pool(threads, queue)
            if old is not None:
                old.executor.shutdown(wait=False)
        return _pool


async def run_bounded(fn: Callable[..., T], *args: object) -> T:
    """Run ``fn(*args)`` (a password check with its database work) on the password pool."""
    pool = _get_pool()
    if not pool._slots.acquire(blocking=False):
        raise PasswordWorkBusy("too many sign-in attempts are being checked right now; try again in a moment")
    try:
        return await asyncio.get_running_loop().run_in_executor(pool.executor, lambda: fn(*args))
    finally:
        pool._slots.release()
