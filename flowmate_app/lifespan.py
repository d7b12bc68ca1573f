"""Start-up and shut-down hooks of the web app's backend process.

The embedded default (no Redis URL) runs the Dramatiq worker threads, the cron scheduler and the
sweeper inside the backend process; they are started in ``on_startup`` and stopped in
``on_shutdown``. Both run once per backend process, in its event loop, before the first request
and after the last one. (In dev the frontend build process never runs them; with several prod
backend workers each runs them once.)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog

from engine.config import get_settings
from engine.logs import configure_logging

log = structlog.get_logger("flowmate.lifespan")


async def on_startup(app: Any) -> None:
    """Start the embedded workers, scheduler and sweeper. Placeholder: only logs for now."""
    configure_logging()
    settings = get_settings()
    log.info("backend.starting", env=settings.env, embedded_queue=settings.embedded_queue)


async def on_shutdown(app: Any) -> None:
    """Stop what ``on_startup`` started, letting running steps finish or release their lease."""
    log.info("backend.stopping")


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Registered with ``app.register_lifespan_task``; Reflex passes the rx.App as ``app``."""
    await on_startup(app)
    try:
        yield
    finally:
        await on_shutdown(app)
