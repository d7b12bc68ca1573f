"""Cron trigger: croniter expressions evaluated in the workflow's timezone.

The scheduler (engine.scheduler) fires each (workflow, scheduled time) at most once; the unique
constraint on Run(workflow_id, idempotency_key) with key ``cron:<iso time>`` enforces it even
with several schedulers running.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.registry import TriggerType, trigger_type


class CronConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expression: str = Field(
        title="Schedule",
        description="Five-field cron expression, e.g. '0 9 * * 1-5' for 9am on weekdays.",
        examples=["*/15 * * * *", "0 9 * * 1-5"],
        max_length=200,
    )

    @field_validator("expression")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value.split(" ")) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a valid five-field cron expression (e.g. '0 9 * * 1-5')")
        return value


@trigger_type
class CronTrigger(TriggerType):
    name = "cron"
    title = "Schedule"
    icon = "calendar_clock"
    description = "Start runs on a cron schedule."
    Config = CronConfig

    def prepare(self, config: dict[str, Any], old_secret: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return {**config, "expression": " ".join(config["expression"].split())}, {}

    def next_fire_at(self, config: dict[str, Any], timezone: str, after: datetime) -> datetime | None:
        return next_fire_times(config["expression"], timezone, after)[0]

    def last_fire_at(self, config: dict[str, Any], timezone: str, at_or_before: datetime) -> datetime | None:
        return previous_fire_time(config["expression"], timezone, at_or_before)

    def public_view(self, config: dict[str, Any], *, token: str | None, secret_set: bool,
                    next_fire_at: datetime | None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.name, "config": dict(config)}
        if next_fire_at is not None:
            out["next_fire_at"] = next_fire_at.isoformat()
        return out

    def sample_payload(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"scheduled_at": "2026-01-05T09:00:00+00:00"}

    def test_payload(self, config: dict[str, Any], sample: Any) -> dict[str, Any]:
        """A test run fires "now"."""
        return {"scheduled_at": datetime.now(UTC).isoformat()}


def next_fire_times(expression: str, timezone: str, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after``, as aware UTC datetimes."""
    tz = ZoneInfo(timezone)
    it = croniter(expression, after.astimezone(tz))
    return [it.get_next(datetime).astimezone(UTC) for _ in range(count)]


def previous_fire_time(expression: str, timezone: str, at_or_before: datetime) -> datetime:
    """The latest fire time at or before ``at_or_before`` (aware UTC)."""
    tz = ZoneInfo(timezone)
    start = at_or_before.astimezone(tz).replace(microsecond=0) + timedelta(seconds=1)
    return croniter(expression, start).get_prev(datetime).astimezone(UTC)
