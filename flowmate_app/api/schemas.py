"""Response and request bodies as pydantic models: they document the API (OpenAPI at /api/docs)
and FastAPI checks every answer against them, so clients can rely on the shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.definition import WorkflowDefinition
from engine.schemas import (
    Page,
    RunDetail,
    RunPublic,
    StepPublic,
    StepRunPublic,
    TriggerPublic,
    WorkflowPublic,
)


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# Runs and workflows: the engine's public shapes, returned by the services themselves.
TriggerOut = TriggerPublic
StepOut = StepPublic
WorkflowOut = WorkflowPublic
WorkflowList = Page[WorkflowPublic]


class WorkflowIn(WorkflowDefinition):
    """A workflow definition (engine.definition). Webhook auth secrets go in trigger.config.auth and are
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


StepRunOut = StepRunPublic
RunSummary = RunPublic
RunOut = RunDetail
RunList = Page[RunPublic]


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
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="Omit for a token that lasts until revoked")


class TokenOut(_Out):
    id: str
    name: str
    role: str
    prefix: str
    created_at: str
    revoked: bool
    created_by: str | None = None
    last_used_at: str | None = None
    expires_at: str | None = None


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
