"""Polling triggers: a source is asked for its current items every N minutes; each new one starts a run.

A polling trigger type subclasses :class:`PollingTrigger` and implements :meth:`PollingTrigger.fetch`
(the items the source has now, each with a stable id). Everything else — claiming the poll so it
happens once per interval with several schedulers, the first poll that only records a starting
point, the bounded seen-set, one run per new item and backing off on provider errors — is
engine/polling.py, the same for every source.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from engine.context import ActionContext
from engine.registry import TriggerType

BASELINE_NOTE = ("The first poll records what is already there and starts no runs; after that, each new item "
                 "starts one run.")


class PollingConfig(BaseModel):
    """Settings every polling trigger has (sources add theirs)."""

    model_config = ConfigDict(extra="forbid")

    interval_minutes: int = Field(5, ge=1, le=1440, title="Check every (minutes)",
                                  description="How often the source is asked for new items (at least 1 minute).")


class PollingTrigger(TriggerType):
    """Base of the polling trigger types (``sheets.new_row``, ``xero.new_invoice``, ``http.poll``)."""

    polling: ClassVar[bool] = True
    sample_key = "item"
    #: A sample of one item, as the source returns it (the builder's reference menu).
    sample_item: ClassVar[dict[str, Any]] = {}

    async def fetch(self, ctx: ActionContext, config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The items the source has now as ``(id, item)``, oldest first. Raise Retryable/PermanentError."""
        raise NotImplementedError

    def interval(self, config: dict[str, Any]) -> timedelta:
        return timedelta(minutes=max(1, int(config.get("interval_minutes") or 5)))

    def next_fire_at(self, config: dict[str, Any], timezone: str, after: datetime) -> datetime | None:
        """Poll soon after saving (the first poll records the starting point), then every interval."""
        return after

    def source_hash(self, config: dict[str, Any]) -> str:
        """Identifies the source: a change (other sheet, other URL) means a new starting point."""
        source = {k: v for k, v in config.items() if k != "interval_minutes"}
        return hashlib.sha256(json.dumps(source, sort_keys=True, default=str).encode()).hexdigest()

    def public_view(self, config: dict[str, Any], *, token: str | None, secret_set: bool,
                    next_fire_at: datetime | None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.name, "config": dict(config), "polling": True, "note": BASELINE_NOTE}
        if next_fire_at is not None:
            out["next_fire_at"] = next_fire_at.isoformat()
        return out

    def sample_payload(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"item": dict(self.sample_item), "item_id": "sample", "polled_at": "2026-01-05T09:00:00+00:00"}
