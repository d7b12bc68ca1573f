"""The public shapes of runs and workflows: what services return and every caller shows.

The REST API declares these as its response models (so OpenAPI documents them), the CLI prints
them as JSON and the Reflex pages hold their ``model_dump()`` in state. One definition, so a
field added here shows up everywhere and a field missing from a service's answer fails loudly.
Never a secret value: webhook and connection secrets appear only as "is set" flags.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from engine.states import RUN_STATUS_VALUES, StepStatus

#: The run states by name, from the state table (engine.states).
RunStatusName = Literal[RUN_STATUS_VALUES]  # type: ignore[valid-type]
StepStatusName = Literal[tuple(s.value for s in StepStatus)]  # type: ignore[valid-type]

T = TypeVar("T")


class _Public(BaseModel):
    # Extra keys are allowed: a trigger type's public view may add its own (e.g. a plugin's).
    model_config = ConfigDict(extra="allow")


class TriggerPublic(_Public):
    type: str
    config: dict[str, Any]
    webhook_path: str | None = Field(None, description="Webhook triggers: POST here to start a run")
    secret_set: bool | None = Field(None, description="Webhook triggers: an auth secret is stored (never shown)")
    next_fire_at: str | None = None


class StepPublic(_Public):
    key: str
    action: str
    config: dict[str, Any]
    retry: dict[str, Any]
    name: str | None = None
    when: str | None = None
    timeout_s: float | None = None
    on_error: Literal["fail", "continue"] | None = None
    #: flow.branch: ``[{key, name, when, default, steps}]``; flow.loop: ``steps`` (same shape as here).
    branches: list[dict[str, Any]] | None = None
    steps: list[dict[str, Any]] | None = None


class WorkflowPublic(_Public):
    id: str
    name: str
    description: str
    enabled: bool
    version: int
    timezone: str
    trigger: TriggerPublic
    steps: list[StepPublic]
    created_at: str
    updated_at: str
    webhook_path: str | None = Field(None, description="`/hooks/<token>` for webhook triggers")


class StepRunPublic(_Public):
    """One executed or skipped step of a run, in execution order (a loop's inner step once per
    iteration)."""

    key: str
    path: str = Field("", description="`key`, or `loop[i].key` inside a loop (`outer[1].inner[3].key` nested)")
    iteration: int | None = Field(None, description="The innermost loop iteration (0-based); null outside loops")
    action: str
    name: str
    status: StepStatusName
    attempts: int
    input: Any = None
    output: Any = None
    error: str | None = None
    retry_delays: list[Any] = Field(default_factory=list)
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: int | None = None


class RunPublic(_Public):
    """A run without its steps (lists)."""

    id: str
    workflow_id: str
    workflow_name: str | None = None
    workflow_version: int
    status: RunStatusName
    trigger_type: str
    attempt: int
    error: str | None = None
    result: str | None = None
    rerun_of: str | None = None
    parent_run_id: str | None = Field(None, description="The run whose flow.call_workflow step started this one")
    parent_path: str | None = Field(None, description="The path of that calling step in the parent run")
    warnings: int = Field(0, description="Steps that failed with on_error: continue (the run still succeeded)")
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    next_attempt_at: str | None = None
    duration_ms: int | None = None


class RunDetail(RunPublic):
    """A run with its trigger payload and every step (the shape of `flowmate runs show`)."""

    trigger: Any = None
    steps: list[StepRunPublic] = Field(default_factory=list)
    children: list[ChildRunPublic] = Field(default_factory=list, description="Runs started by this run's steps")
    result_value: Any = Field(None, description="The run's result as JSON: flow.return's value, else the last output")


class ChildRunPublic(_Public):
    """A run started by a flow.call_workflow step (listed on its parent)."""

    id: str
    workflow_id: str
    workflow_name: str | None = None
    status: RunStatusName
    parent_path: str | None = None
    created_at: str | None = None
    finished_at: str | None = None


class ApprovalPublic(_Public):
    """A flow.approval step waiting for (or decided by) a person."""

    id: str
    run_id: str
    workflow_id: str | None = None
    workflow_name: str | None = None
    step_path: str
    message: str
    approver_role: str
    status: Literal["pending", "approved", "rejected", "expired"]
    decided_by: str | None = None
    comment: str | None = None
    created_at: str | None = None
    decided_at: str | None = None
    expires_at: str | None = None
    can_decide: bool = Field(False, description="The asking member's role is high enough to decide")


class ResumeAnswer(BaseModel):
    """What a POST to a resume URL answers."""

    resumed: bool
    result: Any = None


RunDetail.model_rebuild()


class Page(BaseModel, Generic[T]):
    """One keyset page: pass ``next_cursor`` back as ``cursor``; null on the last page."""

    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last")


class StartedRun(BaseModel):
    """What starting a run answers: the run's id, and False in ``created`` for a replay of an
    idempotency key (then ``id`` is the first run's)."""

    id: str
    created: bool
    workflow_id: str
    trigger_type: str
