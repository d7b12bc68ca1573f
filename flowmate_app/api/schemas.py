"""Response and request bodies as pydantic models: they document the API (OpenAPI at /api/docs)
and FastAPI checks every answer against them, so clients can rely on the shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.definition import WorkflowDefinition


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class TriggerOut(_Out):
    type: str
    config: dict[str, Any]
    webhook_path: str | None = Field(None, description="Webhook triggers: POST here to start a run")
    secret_set: bool | None = Field(None, description="Webhook triggers: an auth secret is stored (never shown)")
    next_fire_at: str | None = None


class StepOut(_Out):
    key: str
    action: str
    config: dict[str, Any]
    retry: dict[str, Any]
    name: str | None = None
    when: str | None = None
    timeout_s: float | None = None


class WorkflowOut(_Out):
    id: str
    name: str
    description: str
    enabled: bool
    version: int
    timezone: str
    trigger: TriggerOut
    steps: list[StepOut]
    created_at: str
    updated_at: str
    webhook_path: str | None = Field(None, description="`/hooks/<token>` for webhook triggers")


class WorkflowList(BaseModel):
    items: list[WorkflowOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last")


class WorkflowIn(WorkflowDefinition):
    """A workflow definition (design.md). Webhook auth secrets go in trigger.config.auth and are
    stored encrypted; they never appear in any answer."""


class ExportOut(_Out):
    name: str
    description: str
    enabled: bool
    timezone: str
    trigger: dict[str, Any]
    steps: list[dict[str, Any]]


class ManualRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payload: Any = Field(default_factory=dict, description="Available to steps as `trigger.payload`")


class StepRunOut(_Out):
    key: str
    action: str
    name: str
    status: str
    attempts: int
    input: Any = None
    output: Any = None
    error: str | None = None
    retry_delays: list[Any] = Field(default_factory=list)
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: int | None = None


class RunSummary(_Out):
    id: str
    workflow_id: str
    workflow_name: str | None = None
    workflow_version: int
    status: Literal["queued", "running", "waiting", "succeeded", "failed", "cancelled"]
    trigger_type: str
    attempt: int
    error: str | None = None
    result: str | None = None
    rerun_of: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    next_attempt_at: str | None = None
    duration_ms: int | None = None


class RunOut(RunSummary):
    """The same shape as `flowmate runs show`."""

    trigger: Any = None
    steps: list[StepRunOut] = Field(default_factory=list)


class RunList(BaseModel):
    items: list[RunSummary]
    next_cursor: str | None = None


class TemplateSummary(_Out):
    slug: str
    name: str
    description: str
    category: str
    tags: list[str]
    connection_types: list[str]
    trigger_type: str
    step_count: int


class TemplateOut(TemplateSummary):
    variables: list[dict[str, Any]]
    connections: list[Any]
    sample_payload: Any = None
    definition: dict[str, Any]
    steps: list[dict[str, Any]]


class InstantiateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variables: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(None, min_length=1, max_length=200, description="Workflow name (default: template's)")


class InstantiateOut(WorkflowOut):
    missing_connections: list[str] = Field(default_factory=list,
                                           description="Connections the workflow names that do not exist yet")


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=32, examples=["smtp"])
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    secret: dict[str, str] = Field(default_factory=dict, description="Write-only: never returned")


class ConnectionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    secret: dict[str, str] | None = Field(None, description="Only the fields to change; others are kept")


class ConnectionOut(_Out):
    id: str
    type: str
    name: str
    config: dict[str, Any]
    secret_fields: list[str]
    secrets_set: list[str] = Field(description="Which secret fields have a value (values are never returned)")
    created_at: str
    updated_at: str


class ConnectionList(BaseModel):
    items: list[ConnectionOut]


class AuditOut(_Out):
    id: str
    actor: str
    action: str
    object_type: str
    object_id: str | None = None
    changes: dict[str, Any]
    created_at: str


class AuditList(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None = None


class UsageMonth(BaseModel):
    month: str
    runs: int
    steps: int


class UsageOut(BaseModel):
    month: str
    runs: int
    steps: int
    quota: int
    remaining: int
    history: list[UsageMonth]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)
    role: Literal["viewer", "editor", "admin", "owner"] = "editor"


class TokenOut(_Out):
    id: str
    name: str
    role: str
    prefix: str
    created_at: str
    revoked: bool


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. Shown once: store it now")


class TokenList(BaseModel):
    items: list[TokenOut]


class HookAccepted(BaseModel):
    run_id: str


class CheckOut(BaseModel):
    ok: bool
    detail: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, CheckOut]
    queue_depth: int | None = None
    workers_alive: int | None = None
    workers: list[str] | None = Field(None, description="live worker processes as host:pid:id")
