"""Live pages: one bus subscription per web process, fanned out to the sessions that care.

Why: a page used to re-read the database every 1-2.5 s per open tab to notice a change. Now the
engine publishes "run X / step K is now S" on its bus (engine/bus.py: Redis pub/sub, or
in-process for the embedded mode) and this module:

- subscribes ONCE per process (``HUB``; one Redis connection however many tabs are open) and
  hands each message to the subscriptions of that message's workspace, on the event loop;
- runs each live page's Reflex background event (``follow``): it waits for a matching message,
  re-reads through the page's own (service-scoped) read inside ``async with state``, and ends
  when the tab disconnects, the person leaves the page, or the page started a newer follower;
- re-reads anyway every ``FLOWMATE_LIVE_FALLBACK_SECONDS`` (30 s), in case a message was lost.

A page hooks in with a background event that calls ``follow`` and lists it in its ``on_load``.
Messages carry ids and statuses only: what a page shows always comes from its own read.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable
from typing import Any

from engine import bus
from engine.config import get_settings

Message = dict[str, Any]
#: Messages kept per subscription between two wake-ups; past that the page just re-reads.
MAX_PENDING = 200


class Subscription:
    """One follower's inbox (lives on the event loop that created it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, workspace_id: str) -> None:
        self.loop, self.workspace_id = loop, workspace_id
        self.pending: list[Message] = []
        self.overflow = False
        self._event = asyncio.Event()

    def push(self, message: Message) -> None:  # on self.loop
        if len(self.pending) >= MAX_PENDING:
            self.overflow = True
        else:
            self.pending.append(message)
        self._event.set()

    def drain(self) -> None:
        self.pending, self.overflow = [], False
        self._event.clear()

    async def wait(self, timeout: float) -> tuple[list[Message], bool]:
        """Messages since the last call (``[]`` on timeout) and whether some were dropped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()
        got, overflow = self.pending, self.overflow
        self.pending, self.overflow = [], False
        return got, overflow


class Hub:
    """This process's single bus subscriber; delivers each message to its workspace's followers."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        self._bus: Any = None

    def open(self, workspace_id: str) -> Subscription:
        sub = Subscription(asyncio.get_running_loop(), workspace_id)
        with self._lock:
            current = bus.get_bus()
            if self._bus is not current:  # first follower, or the settings changed (tests)
                if self._unsubscribe is not None:
                    self._unsubscribe()
                self._unsubscribe, self._bus = current.subscribe(self._deliver), current
            self._subs.add(sub)
        return sub

    def close(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def followers(self) -> int:
        with self._lock:
            return len(self._subs)

    def _deliver(self, message: Message) -> None:
        """Called on the bus thread (Redis) or the publishing thread (in-process)."""
        workspace = message.get("workspace_id")
        with self._lock:
            targets = [s for s in self._subs if s.workspace_id == workspace]
        for sub in targets:
            with contextlib.suppress(RuntimeError):  # that loop is closed: the follower is gone
                sub.loop.call_soon_threadsafe(sub.push, message)


HUB = Hub()
#: (client token, state class) -> generation of its newest follower; an older one stops.
_generations: dict[tuple[str, str], int] = {}
_app: Any = None


def _connected(token: str) -> bool:
    """Whether this tab's websocket is still connected to this process."""
    global _app
    try:
        if _app is None:
            from reflex.utils.prerequisites import get_and_validate_app

            _app = get_and_validate_app().app
        namespace = _app.event_namespace
        return namespace is None or token in namespace.token_to_sid
    except Exception:  # noqa: BLE001 - unknown: keep following until the page changes
        return True


def _matches(messages: Iterable[Message], kinds: tuple[str, ...], run_id: str | None) -> bool:
    return any(m.get("kind") in kinds and (run_id is None or m.get("run_id") == run_id) for m in messages)


async def next_change(sub: Subscription, run_id: str) -> None:
    """Wait until run ``run_id`` (or one of its steps) changes, or the fallback interval passes."""
    loop = asyncio.get_running_loop()
    until = loop.time() + get_settings().live_fallback_seconds
    while (left := until - loop.time()) > 0:
        messages, overflow = await sub.wait(left)
        if overflow or _matches(messages, ("run", "step"), run_id):
            return


async def follow(state: Any, refresh: Callable[[Any], Any], *, kinds: tuple[str, ...] = ("run", "step"),
                 run_id: Callable[[Any], str] | None = None, min_gap_s: float = 0.0) -> None:
    """The body of a page's live background event.

    ``refresh(state)`` re-reads the page (called inside ``async with state``); it runs when a
    message of one of ``kinds`` for the signed-in workspace arrives (only for the run
    ``run_id(state)`` names, when given), and every fallback interval. ``min_gap_s`` caps how
    often a busy workspace makes the page re-read: the first change shows at once, the changes
    within the gap after it together with one more read.
    """
    async with state:
        actor = state.actor()
        token = state.router.session.client_token
        path = state.router.url.path
        only_run = run_id(state) if run_id else None
        # A background event's ``self`` is a StateProxy: key on the state class it wraps, or every
        # page's follower (and the top bar's bell) would share one key and stop each other.
        wrapped = type(getattr(state, "__wrapped__", state))
        key = (token, f"{wrapped.__module__}.{wrapped.__qualname__}")
        generation = _generations.get(key, 0) + 1
        _generations[key] = generation
    if actor is None or (run_id is not None and not only_run):
        return
    fallback = get_settings().live_fallback_seconds
    sub = HUB.open(actor.workspace_id)
    loop = asyncio.get_running_loop()
    last_read = loop.time()
    try:
        while True:
            timeout = max(0.05, fallback - (loop.time() - last_read))
            messages, overflow = await sub.wait(timeout)
            if _generations.get(key) != generation or not _connected(token):
                return
            if messages and not overflow and not _matches(messages, kinds, only_run):
                continue
            gap = min_gap_s - (loop.time() - last_read)
            if messages and gap > 0:  # read at most once per gap; what arrives meanwhile rides along
                await asyncio.sleep(gap)
                sub.drain()
            async with state:
                if state.router.url.path != path:
                    return  # the person left the page
                refresh(state)
            last_read = loop.time()
    finally:
        HUB.close(sub)
        if _generations.get(key) == generation:
            del _generations[key]
