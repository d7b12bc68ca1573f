"""Start-up and shut-down hooks of the web app's backend process.

The embedded default (no Redis URL) builds the process's :class:`engine.runtime.Runtime`
(``Runtime.embedded``: Dramatiq worker threads, cron, sweeper and the other duties) inside the
backend process; it is started in ``on_startup`` and stopped in ``on_shutdown``. With Redis
the web process builds none and never imports the executor. Both hooks run once per backend
process, in its event loop, before the first request and after the last one. (In dev the
frontend build process never runs them; with several prod backend workers each runs them once.)
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

import structlog

from engine.config import get_settings
from engine.logs import configure_logging

log = structlog.get_logger("flowmate.lifespan")
#: The runtime this backend process built in embedded mode (None with Redis).
_runtime: Any = None


async def on_startup(app: Any) -> None:
    """Embedded mode (no Redis URL): start worker threads, heartbeat, sweeper and the scheduler.

    With FLOWMATE_REDIS_URL set the web app only enqueues: `flowmate worker` processes execute
    runs and `flowmate scheduler` fires cron triggers and sweeps.
    """
    configure_logging()
    settings = get_settings()
    log.info("backend.starting", env=settings.env, embedded_queue=settings.embedded_queue)
    from engine.services.residency import enforce

    enforce("web")  # a database recorded for another data region: refuse to serve
    # Everything imported so far (Reflex, the compiled app, SQLAlchemy metadata) lives for the
    # whole process: move it out of the garbage collector's sight, so full collections triggered
    # by request traffic stay short instead of scanning the whole app on every pass.
    gc.collect()
    gc.freeze()
    if settings.embedded_queue:
        # Embedded mode only: a web process with Redis must never load the executor.
        from engine.runtime import Runtime

        global _runtime
        _runtime = Runtime.embedded(settings).start()
        log.info("backend.embedded_worker_started", threads=settings.worker_threads)


async def on_shutdown(app: Any) -> None:
    """Stop what ``on_startup`` started, letting running steps finish or release their lease."""
    global _runtime
    log.info("backend.stopping")
    if _runtime is not None:
        runtime, _runtime = _runtime, None
        runtime.stop()


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Registered with ``app.register_lifespan_task``; Reflex passes the rx.App as ``app``."""
    await on_startup(app)
    try:
        yield
    finally:
        await on_shutdown(app)
