"""SQLModel tables. One migration chain (alembic/) creates them on SQLite and PostgreSQL.

Ids are random UUID hex strings: unguessable in URLs and safe to generate on any node. Every
workspace-owned table carries ``workspace_id`` so services can scope each query by it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from engine.db import utcnow
from engine.states import RunStatus, StepStatus  # noqa: F401 - re-exported: the state machine owns them

JSONType = JSON().with_variant(JSONB(), "postgresql")


def new_id() -> str:
    return uuid.uuid4().hex


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


def _json(default: Any = dict) -> Any:
    return Field(default_factory=default, sa_column=Column(JSONType, nullable=False))


def _json_nullable() -> Any:
    return Field(default=None, sa_column=Column(JSONType, nullable=True))


class Role(StrEnum):
    viewer = "viewer"
    editor = "editor"
    admin = "admin"
    owner = "owner"

    @property
    def rank(self) -> int:
        return ["viewer", "editor", "admin", "owner"].index(self.value)


class User(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(index=True, unique=True, max_length=320)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(default="", sa_column=Column(Text, nullable=False))
    failed_logins: int = 0
    locked_until: datetime | None = _ts()
    created_at: datetime = _created()
    email_verified_at: datetime | None = _ts()  # None: signed up with a password, link not clicked yet


class Workspace(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    slug: str = Field(index=True, unique=True, max_length=64)
    timezone: str = Field(default="Australia/Sydney", max_length=64)
    data_region: str = Field(default="au", max_length=32)
    retention_days: int = 30
    audit_retention_days: int = 365
    monthly_run_quota: int | None = None
    created_at: datetime = _created()


class Membership(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("user_id", "workspace_id", name="uq_membership_user_ws"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=32)
    role: str = Field(default=Role.editor.value, max_length=16)
    created_at: datetime = _created()


class Workflow(SQLModel, table=True):
    __table_args__ = (Index("ix_workflow_ws_updated", "workspace_id", "updated_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=32)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    enabled: bool = True
    version: int = 1
    timezone: str = Field(default="UTC", max_length=64)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Trigger(SQLModel, table=True):
    __table_args__ = (Index("ix_trigger_cron_due", "type", "next_fire_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workflow_id: str = Field(foreign_key="workflow.id", unique=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=32)
    type: str = Field(max_length=32)
    config: dict = _json()
    webhook_token: str | None = Field(default=None, unique=True, max_length=64)
    secret_encrypted: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    next_fire_at: datetime | None = _ts()


class Step(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workflow_id", "key", name="uq_step_workflow_key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workflow_id: str = Field(foreign_key="workflow.id", index=True, max_length=32)
    key: str = Field(max_length=64)
    action: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    config: dict = _json()
    retry: dict = _json()
    when: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    timeout_s: float | None = None
    position: int = 0
    #: Flow control (docs/flow-control.md): ``on_error``, and the nested ``branches``/``steps``
    #: of flow.branch and flow.loop steps, as in the definition; null for a plain step.
    flow: dict | None = _json_nullable()


class Run(SQLModel, table=True):
    __table_args__ = (
        Index("ix_run_ws_created", "workspace_id", "created_at", "id"),
        Index("ix_run_workflow_created", "workflow_id", "created_at"),
        Index("ix_run_status_lease", "status", "lease_expires_at"),
        Index("ix_run_status_next", "status", "next_attempt_at"),
        Index("ix_run_ws_finished", "workspace_id", "finished_at"),
        UniqueConstraint("workflow_id", "idempotency_key", name="uq_run_idempotency"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=32)
    workflow_id: str = Field(foreign_key="workflow.id", max_length=32)
    workflow_version: int = 1
    definition: dict = _json()
    status: str = Field(default=RunStatus.queued.value, max_length=16)
    trigger_type: str = Field(default="manual", max_length=32)
    trigger_payload: dict = _json()
    attempt: int = 0
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = _ts()
    next_attempt_at: datetime | None = _ts()
    idempotency_key: str | None = Field(default=None, max_length=255)
    request_hash: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    result: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rerun_of: str | None = Field(default=None, max_length=32)
    #: A child run started by flow.call_workflow: the parent run and the calling step's path.
    parent_run_id: str | None = Field(default=None, max_length=32, index=True)
    parent_path: str | None = Field(default=None, max_length=512)
    #: W3C traceparent of the span that created the run (tracing on): the worker continues that trace.
    traceparent: str | None = Field(default=None, max_length=55)
    created_at: datetime = _created()
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()


class StepRun(SQLModel, table=True):
    # One row per executed step *path*: a loop's inner step has a row per iteration.
    __table_args__ = (UniqueConstraint("run_id", "path", name="uq_steprun_run_path"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    run_id: str = Field(foreign_key="run.id", index=True, max_length=32)
    step_key: str = Field(max_length=64)
    #: ``key`` outside loops, ``loop[i].key`` inside (``outer[1].inner[3].key`` nested).
    path: str | None = Field(default=None, max_length=512)
    #: The innermost loop iteration (0-based); null outside loops.
    iteration: int | None = None
    action: str = Field(max_length=64)
    position: int = 0
    status: str = Field(default=StepStatus.pending.value, max_length=16)
    attempts: int = 0
    input: dict | None = _json_nullable()
    output: Any = _json_nullable()
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    retry_delays: list = _json(list)
    resume_at: datetime | None = _ts()
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()


class Connection(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_connection_ws_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=32)
    type: str = Field(max_length=32)
    name: str = Field(max_length=200)
    config: dict = _json()
    secret_encrypted: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Usage(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "month", name="uq_usage_ws_month"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=32)
    month: str = Field(max_length=7)
    runs: int = 0
    steps: int = 0


class AuditLog(SQLModel, table=True):
    __table_args__ = (Index("ix_audit_ws_created", "workspace_id", "created_at"),
                      UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"))

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str | None = Field(default=None, max_length=32)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    object_type: str = Field(max_length=32)
    object_id: str | None = Field(default=None, max_length=64)
    changes: dict = _json()
    created_at: datetime = _created()
    #: tamper evidence (engine.services.audit_chain): chain = workspace id or "" outside workspaces
    chain: str = Field(default="", max_length=32)
    seq: int = 0
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(default="", max_length=64)


class ApiToken(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=32)
    name: str = Field(default="", max_length=200)
    role: str = Field(default=Role.editor.value, max_length=16)
    token_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=16)
    created_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created()
    last_used_at: datetime | None = _ts()
    revoked_at: datetime | None = _ts()
    expires_at: datetime | None = _ts()  # None: until revoked


class UserSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 hash is stored."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=32)
    workspace_id: str | None = Field(default=None, max_length=32)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = _ts()
    user_agent: str | None = Field(default=None, max_length=300)  # the browser, as last seen
    ip: str | None = Field(default=None, max_length=64)
    last_seen_at: datetime | None = _ts()


class ReplayMarker(SQLModel, table=True):
    """A one-time key already used (an HMAC webhook signature), kept until ``expires_at``.

    In the database rather than Redis: a Redis flush or outage must neither let a replay
    through nor stop signed webhooks from being accepted.
    """

    key: str = Field(primary_key=True, max_length=200)
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))


# --- audit chain, audit streaming, contacts and consent (issue 13) -----------------------------


class AuditChainHead(SQLModel, table=True):
    """The newest row of one audit chain (a workspace, or ``""`` for rows outside workspaces).

    Writers lock this row (UPDATE ... RETURNING) before appending, so concurrent writers of one
    workspace queue up instead of forking the chain; it also lets `audit verify` notice a deleted tail.
    """

    chain: str = Field(primary_key=True, max_length=32)
    seq: int = 0
    last_hash: str = Field(default="", max_length=64)
    #: Retention deleted rows 1..pruned_through_seq; the kept part links to pruned_last_hash.
    pruned_through_seq: int = 0
    pruned_last_hash: str = Field(default="", max_length=64)


class AuditStream(SQLModel, table=True):
    """Where a workspace streams its audit rows (a signed webhook or syslog) and how far it got."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", unique=True, max_length=32)
    kind: str = Field(max_length=16)
    config: dict = _json()
    secret_encrypted: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    enabled: bool = True
    cursor_seq: int = 0
    failures: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_delivered_at: datetime | None = _ts()
    next_attempt_at: datetime | None = _ts()
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _ts()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Contact(SQLModel, table=True):
    """A person a workspace messages, keyed by normalised email and/or E.164 phone."""

    __table_args__ = (
        UniqueConstraint("workspace_id", "email", name="uq_contact_ws_email"),
        UniqueConstraint("workspace_id", "phone", name="uq_contact_ws_phone"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=32)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    name: str = Field(default="", max_length=200)
    email_consent: str = Field(default="unknown", max_length=16)
    sms_consent: str = Field(default="unknown", max_length=16)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class ConsentEvent(SQLModel, table=True):
    """One consent change (granted or withdrawn) with where it came from and the wording shown."""

    __table_args__ = (Index("ix_consent_contact_created", "contact_id", "created_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=32)
    contact_id: str = Field(foreign_key="contact.id", max_length=32)
    channel: str = Field(max_length=8)
    status: str = Field(max_length=16)
    source: str = Field(default="", max_length=200)
    wording: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    actor: str = Field(default="", max_length=200)
    created_at: datetime = _created()


class Suppression(SQLModel, table=True):
    """An address (email) or number (E.164) that must not receive marketing on a channel."""

    __table_args__ = (UniqueConstraint("workspace_id", "channel", "address", name="uq_suppression_ws_addr"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=32)
    channel: str = Field(max_length=8)
    address: str = Field(max_length=320)
    reason: str = Field(default="", max_length=200)
    source: str = Field(default="", max_length=200)
    created_at: datetime = _created()


class MessagingSettings(SQLModel, table=True):
    """Per-workspace inbound-SMS secret (ClickSend has no signature: the URL carries a secret)."""

    workspace_id: str = Field(foreign_key="workspace.id", primary_key=True, max_length=32)
    clicksend_secret_hash: str | None = Field(default=None, unique=True, max_length=64)
    updated_at: datetime = _created()
# --- data governance (exports, residency, background duties) --------------------------------


class ExportJob(SQLModel, table=True):
    """One requested export ZIP: built in the background, downloadable by its requester for 24 h.

    ``scope`` is ``workspace`` (everything the workspace owns) or ``user`` (the requester's own
    data). The file lives in export storage under ``storage_key``; ``storage_region`` is where
    that storage keeps it (the bucket's region for S3, the deployment region for a local folder).
    """

    __table_args__ = (Index("ix_exportjob_status", "status", "lease_expires_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(index=True, max_length=32)
    scope: str = Field(max_length=16)
    requested_by: str = Field(max_length=200)
    requested_by_user_id: str | None = Field(default=None, max_length=32)
    requested_by_token_id: str | None = Field(default=None, max_length=32)
    status: str = Field(default="queued", max_length=16)
    progress_done: int = 0
    progress_total: int = 0
    storage: str = Field(default="local", max_length=16)
    storage_key: str | None = Field(default=None, max_length=400)
    storage_region: str | None = Field(default=None, max_length=64)
    size_bytes: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    lease_expires_at: datetime | None = _ts()
    created_at: datetime = _created()
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
    expires_at: datetime | None = _ts()


class DeploymentFact(SQLModel, table=True):
    """Facts recorded once about the database itself, e.g. the data region it was created for."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=200)
    created_at: datetime = _created()


class DutyRun(SQLModel, table=True):
    """When a background duty (retention, export expiry) last ran and what it did."""

    name: str = Field(primary_key=True, max_length=64)
    last_started_at: datetime | None = _ts()
    last_finished_at: datetime | None = _ts()
    details: dict = _json()
class OAuthState(SQLModel, table=True):
    """One "Connect" attempt in flight: the OAuth ``state`` (stored as its SHA-256 only), bound to
    the browser session and workspace that started it, single use, short-lived. The PKCE verifier
    is stored encrypted: it proves to the provider that the code is redeemed by whoever asked."""

    state_hash: str = Field(primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=32)
    user_id: str = Field(foreign_key="user.id", max_length=32)
    session_hash: str = Field(max_length=64)
    connection_type: str = Field(max_length=32)
    connection_name: str = Field(max_length=200)
    connection_id: str | None = Field(default=None, max_length=32)  # set when reconnecting
    verifier_encrypted: str = Field(default="", sa_column=Column(Text, nullable=False))
    redirect_uri: str = Field(max_length=500)
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = _ts()


# --- accounts: invitations, emailed tokens, system mail, OIDC identities, sign-in policy -------


class Invitation(SQLModel, table=True):
    """An emailed, single-use link that lets someone join a workspace with a role.

    Only the SHA-256 of the link's token is stored. Pending = not accepted, not revoked and
    not expired; resending issues a new token (the old link stops working).
    """

    __table_args__ = (Index("ix_invitation_ws_email", "workspace_id", "email"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=32)
    email: str = Field(max_length=320)
    role: str = Field(default=Role.editor.value, max_length=16)
    token_hash: str = Field(unique=True, max_length=64)
    invited_by: str = Field(max_length=200)
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_sent_at: datetime | None = _ts()
    sent_count: int = 0
    accepted_at: datetime | None = _ts()
    accepted_by: str | None = Field(default=None, max_length=32)
    revoked_at: datetime | None = _ts()


class AccountToken(SQLModel, table=True):
    """A single-use emailed token for one user: password reset or email verification."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=32)
    purpose: str = Field(max_length=16)  # "reset" | "verify"
    token_hash: str = Field(unique=True, max_length=64)
    email: str = Field(max_length=320)  # the address it was sent to (verification proves this one)
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = _ts()


class OAuthGrant(SQLModel, table=True):
    """Health of an OAuth connection's tokens (the tokens themselves live encrypted in the
    connection's secret). Its row is also the per-connection lock that serialises refreshes."""

    connection_id: str = Field(
        sa_column=Column(String(32), ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True))
    status: str = Field(default="ok", max_length=32)  # ok | reconnect_needed
    status_message: str = Field(default="", max_length=500)
    expires_at: datetime | None = _ts()
    refreshed_at: datetime | None = _ts()
    refresh_count: int = 0
    updated_at: datetime = _created()


class SystemMail(SQLModel, table=True):
    """System mail waiting for, or done with, the background sender (the outbox).

    The bodies carry single-use links, so they are stored encrypted (MultiFernet) and erased
    once the mail is sent.
    """

    __table_args__ = (Index("ix_systemmail_status_created", "status", "created_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=32)
    to_email: str = Field(max_length=320)
    subject: str = Field(max_length=300)
    body_encrypted: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default="queued", max_length=16)  # queued | sent | failed
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    delivered_to: str | None = Field(default=None, max_length=500)  # "smtp://host:port" or outbox file
    created_at: datetime = _created()
    sent_at: datetime | None = _ts()


class UserIdentity(SQLModel, table=True):
    """A sign-in identity at an OpenID Connect provider, linked to one FlowMate user."""

    __table_args__ = (UniqueConstraint("provider", "subject", name="uq_identity_provider_subject"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=32)
    provider: str = Field(max_length=64)
    subject: str = Field(max_length=255)
    email: str = Field(max_length=320)
    created_at: datetime = _created()
    last_login_at: datetime | None = _ts()


class WorkspaceAuthPolicy(SQLModel, table=True):
    """Per-workspace sign-in rules: email domains that join automatically, and "require SSO"."""

    workspace_id: str = Field(foreign_key="workspace.id", primary_key=True, max_length=32)
    allowed_domains: list = _json(list)
    auto_join_role: str = Field(default=Role.viewer.value, max_length=16)
    require_sso: bool = False
    updated_at: datetime = _created()
    require_mfa: bool = False  # members must use a second factor (engine.services.mfa)



class ApprovalStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"


class Approval(SQLModel, table=True):
    """A flow.approval step waiting for a person (one row per run and step path)."""

    __table_args__ = (
        UniqueConstraint("run_id", "step_path", name="uq_approval_run_path"),
        Index("ix_approval_ws_status_created", "workspace_id", "status", "created_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=32)
    run_id: str = Field(foreign_key="run.id", index=True, max_length=32)
    step_path: str = Field(max_length=512)
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    approver_role: str = Field(default=Role.admin.value, max_length=16)
    status: str = Field(default=ApprovalStatus.pending.value, max_length=16)
    decided_by: str | None = Field(default=None, max_length=320)
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _created()
    decided_at: datetime | None = _ts()
    expires_at: datetime | None = _ts()


class WaitToken(SQLModel, table=True):
    """The resume URL of a flow.wait_for_event step: only the token's SHA-256 is stored.

    ``status``: ``pending`` (the URL exists, the step is not waiting yet), ``waiting``,
    ``resumed`` (``result`` holds the POSTed JSON) or ``expired``.
    """

    __table_args__ = (UniqueConstraint("run_id", "step_path", name="uq_waittoken_run_path"),)

    token_hash: str = Field(primary_key=True, max_length=64)
    run_id: str = Field(foreign_key="run.id", index=True, max_length=32)
    step_path: str = Field(max_length=512)
    status: str = Field(default="pending", max_length=16)
    result: Any = _json_nullable()
    created_at: datetime = _created()
    resumed_at: datetime | None = _ts()
    expires_at: datetime | None = _ts()


#: Tables whose rows belong to one run besides its step runs (by ``run_id``): a deleted run takes
#: them along (services/batch_delete.py) and subject erasure redacts their text (services/erasure.py).
RUN_ATTACHED_TABLES = (Approval.__table__, WaitToken.__table__)


class PollState(SQLModel, table=True):
    """What a polling trigger (engine/polling.py) has already seen, per workflow.

    ``seen`` holds the ids of items already handled (bounded: the newest ids only), so each new
    item starts exactly one run. ``config_hash`` notices a changed source (another sheet, another
    URL): the next poll then records a new starting point instead of firing for old items.
    """

    workflow_id: str = Field(
        sa_column=Column(String(32), ForeignKey("workflow.id", ondelete="CASCADE"), primary_key=True))
    workspace_id: str = Field(max_length=32, index=True)
    trigger_type: str = Field(max_length=32)
    config_hash: str = Field(max_length=64)
    seen: list = _json(list)
    baseline_at: datetime | None = _ts()
    last_polled_at: datetime | None = _ts()
    runs_started: int = 0
    failures: int = 0
    last_error: str = Field(default="", max_length=500)
    updated_at: datetime = _created()


class UserMfa(SQLModel, table=True):
    """A user's TOTP second factor (RFC 6238). The secret is encrypted with the server key.

    ``enabled_at`` is None while set-up waits for its first code; ``last_step`` is the newest
    30-second step whose code was accepted, so a code cannot be replayed within its window.
    """

    user_id: str = Field(foreign_key="user.id", primary_key=True, max_length=32)
    secret_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _created()
    enabled_at: datetime | None = _ts()
    last_step: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_used_at: datetime | None = _ts()


class MfaRecoveryCode(SQLModel, table=True):
    """One single-use recovery code, stored only as a keyed hash (HMAC of the server key)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=32)
    code_hash: str = Field(max_length=64)
    created_at: datetime = _created()
    used_at: datetime | None = _ts()
