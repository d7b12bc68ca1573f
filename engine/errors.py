"""Exceptions that carry meaning across the engine.

Actions raise these to tell the executor what to do next; services raise ValidationFailed so
every caller (CLI, API, UI) can show field-level messages the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class FlowMateError(Exception):
    """Base class for every error the engine raises on purpose."""


class StepError(FlowMateError):
    """A step failed. ``retryable`` decides whether the retry policy applies."""

    retryable: bool = True

    def __init__(self, message: str, *, retryable: bool | None = None, details: Any = None):
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable
        self.details = details


class RetryableError(StepError):
    """A transient failure (timeouts, 5xx, 429): the retry policy decides what happens.

    ``retry_after`` (seconds), when a provider said when to come back (HTTP 429 ``Retry-After``),
    replaces the policy's backoff delay for the next attempt.
    """

    retryable = True

    def __init__(self, message: str, *, retryable: bool | None = None, details: Any = None,
                 retry_after: float | None = None):
        super().__init__(message, retryable=retryable, details=details)
        self.retry_after = retry_after


class PermanentError(StepError):
    """A failure retrying cannot fix (4xx, validation, refused address): fail at once."""

    retryable = False


class StopRun(FlowMateError):
    """Stop the run early as *succeeded* with a reason (core.filter uses this)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Suspend(FlowMateError):
    """Park the run until ``resume_at`` without holding a worker (core.delay uses this)."""

    def __init__(self, resume_at: datetime):
        super().__init__(f"suspended until {resume_at.isoformat()}")
        self.resume_at = resume_at


class ValidationFailed(FlowMateError):
    """Bad input. ``fields`` maps a dotted field path to a human message."""

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(FlowMateError):
    """The object does not exist *for this actor* (other workspaces look the same as missing)."""


class Forbidden(FlowMateError):
    """The actor's role is too low for this operation."""


class Conflict(FlowMateError):
    """The request conflicts with the current state (e.g. idempotency key reuse)."""


class QuotaExceeded(FlowMateError):
    """The workspace has used its monthly run allowance."""


class SkipStep(FlowMateError):
    """Record the step as *skipped* with a reason and go on (a marketing message without consent)."""

    def __init__(self, reason: str, output: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.output = output or {}
