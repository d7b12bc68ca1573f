"""Webhook URL tokens never reach a log line.

A webhook's URL token *is* its credential (``/hooks/<token>``): whoever reads it can start runs.
The HTTP server's access log (Granian's ``granian.access``, Uvicorn's ``uvicorn.access``) and
our own error lines would write it in clear. :func:`install_access_log_filter` adds a filter to
those loggers that keeps the first 6 characters (enough to tell webhooks apart) and replaces
the rest; :func:`redact_path` does the same for paths we log ourselves.

A reverse proxy in front of FlowMate keeps its own access log: see docs/security.md.
"""

from __future__ import annotations

import logging
import re
from typing import Any

#: ``/hooks/resume/<token>`` (a resume URL) is cut after "resume" too: its token is a credential.
_HOOK_PATH = re.compile(r"(/hooks/)([A-Za-z0-9_-]{6})[A-Za-z0-9_%/-]*")
ACCESS_LOGGERS = ("granian.access", "uvicorn.access")


def redact_path(value: str) -> str:
    """``/hooks/AbCdEf123...`` → ``/hooks/AbCdEf…``; anything else unchanged."""
    if "/hooks/" not in value:
        return value
    return _HOOK_PATH.sub(lambda m: f"{m.group(1)}{m.group(2)}…", value)


def _redact(value: Any) -> Any:
    return redact_path(value) if isinstance(value, str) else value


class HookTokenFilter(logging.Filter):
    """Rewrites the record's message arguments (tuple or mapping) and message in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, dict):
            record.args = {k: _redact(v) for k, v in args.items()}
        elif isinstance(args, tuple):
            record.args = tuple(_redact(v) for v in args)
        if isinstance(record.msg, str):
            record.msg = redact_path(record.msg)
        return True


_FILTER = HookTokenFilter()


def install_access_log_filter() -> None:
    """Idempotent: called whenever the API is built (once per server process)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
