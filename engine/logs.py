"""structlog set-up: JSON lines in production and under workers, pretty console in development.

Secrets never reach a log line: a processor redacts secret-looking keys in every event, on top
of the executor only ever logging redacted values.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from engine.config import get_settings
from engine.redaction import redact

_configured = False


def _redact_event(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: (redact({k: v})[k] if k not in ("event", "timestamp", "level") else v) for k, v in event.items()}


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of the write, not at configure time.

    Loggers are cached on first use; binding them to the stream object of that moment would keep
    writing into a stream that was since replaced (a test's capture, a daemon's redirect).
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(force_json: bool | None = None) -> None:
    """Configure structlog once per process (stderr; stdout is kept for CLI JSON output)."""
    global _configured
    if _configured:
        return
    settings = get_settings()
    use_json = force_json if force_json is not None else (
        settings.log_format == "json" or (settings.log_format == "auto" and settings.env != "development")
        or (settings.log_format == "auto" and not sys.stderr.isatty())
    )
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
    for noisy in ("alembic", "dramatiq", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_event,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    _configured = True
