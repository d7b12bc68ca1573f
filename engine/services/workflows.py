"""Workflow create/update/delete/enable, import/export, scoped to the actor's workspace.

A definition is validated in full (engine.definition) before any row is written. Webhook auth
secrets are split off the trigger config and stored encrypted; exports and API answers never
contain them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from engine.crypto import decrypt_json, encrypt_json, new_token
from engine.db import as_aware, utcnow
from engine.definition import WorkflowDefinition, validate_definition
from engine.errors import NotFound, ValidationFailed
from engine.models import Role, Run, Step, StepRun, Trigger, Workflow
from engine.services import audit, hook_cache
from engine.services.actor import Actor
from engine.services.pagination import clamp_limit, decode_cursor, encode_cursor
from engine.services.workflow_diff import secrets_in, workflow_diff
from engine.triggers.cron import next_fire_times
from engine.triggers.webhook import SECRET_AUTH_FIELDS

REQUIRED_SECRETS = {"header": ("token",), "basic": ("password",), "hmac": ("secret",)}


def get_workflow(session: Session, actor: Actor, workflow_id: str) -> Workflow:
    wf = session.exec(
        select(Workflow).where(Workflow.id == workflow_id, Workflow.workspace_id == actor.workspace_id)
    ).first()
    if wf is None:
        raise NotFound("workflow not found")
    return wf


def _split_webhook_secrets(
    config: dict[str, Any], old_secret: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (config without secret values, secret values to encrypt)."""
    config = {**config, "auth": dict(config.get("auth") or {"type": "none"})}
    auth = config["auth"]
    auth_type = auth.get("type", "none")
    secret: dict[str, Any] = {}
    for name in SECRET_AUTH_FIELDS:
        value = auth.pop(name, None)
        if value not in (None, ""):
            secret[name] = value
        elif name in old_secret and old_secret.get("auth_type") == auth_type:
            secret[name] = old_secret[name]
    missing = [n for n in REQUIRED_SECRETS.get(auth_type, ()) if n not in secret]
    if auth_type == "basic" and not auth.get("username"):
        missing.insert(0, "username")
    if missing:
        raise ValidationFailed(
            "webhook authentication is incomplete",
            {f"trigger.config.auth.{n}": f"required for {auth_type} authentication" for n in missing},
        )
    if auth_type == "none":
        secret = {}
    else:
        secret["auth_type"] = auth_type
    return config, secret


def _apply_definition(session: Session, wf: Workflow, definition: WorkflowDefinition,
                      trigger: Trigger | None) -> Trigger:
    wf.name = definition.name
    wf.description = definition.description
    wf.enabled = definition.enabled
    wf.timezone = definition.timezone
    config = dict(definition.trigger.config)
    old_secret: dict[str, Any] = {}
    if trigger is not None and trigger.secret_encrypted:
        old_secret = decrypt_json(trigger.secret_encrypted)
    if trigger is None:
        trigger = Trigger(workflow_id=wf.id, workspace_id=wf.workspace_id, type=definition.trigger.type)
    trigger.type = definition.trigger.type
    trigger.secret_encrypted = None
    trigger.next_fire_at = None
    if trigger.type == "webhook":
        config, secret = _split_webhook_secrets(config, old_secret)
        trigger.secret_encrypted = encrypt_json(secret) if secret else None
        trigger.webhook_token = trigger.webhook_token or new_token("")
    else:
        trigger.webhook_token = None
    if trigger.type == "cron":
        config["expression"] = " ".join(config["expression"].split())
        trigger.next_fire_at = next_fire_times(config["expression"], wf.timezone, utcnow())[0]
    trigger.config = config
    session.add(trigger)

    session.exec(delete(Step).where(Step.workflow_id == wf.id))  # type: ignore[call-overload]
    for position, step in enumerate(definition.steps):
        session.add(Step(
            workflow_id=wf.id, key=step.key, action=step.action, name=step.name, config=step.config,
            retry=step.retry.model_dump(), when=step.when, timeout_s=step.timeout_s, position=position,
        ))
    return trigger


def create_workflow(session: Session, actor: Actor, raw: Any) -> Workflow:
    actor.require(Role.editor)
    definition = validate_definition(raw)
    wf = Workflow(workspace_id=actor.workspace_id, name=definition.name)
    session.add(wf)
    session.flush()
    _apply_definition(session, wf, definition, None)
    session.flush()
    audit.record(session, actor, "workflow.create", "workflow", wf.id,
                 {"name": wf.name, "trigger": definition.trigger.type, "steps": len(definition.steps)})
    return wf


def update_workflow(session: Session, actor: Actor, workflow_id: str, raw: Any,
                    expected_version: int | None = None) -> Workflow:
    """Replace the definition and bump the version (optimistic check with ``expected_version``)."""
    actor.require(Role.editor)
    wf = get_workflow(session, actor, workflow_id)
    if expected_version is not None and expected_version != wf.version:
        raise ValidationFailed(
            "the workflow was changed by someone else; reload it",
            {"version": f"expected {expected_version}, current is {wf.version}"},
        )
    definition = validate_definition(raw)
    trigger = session.exec(select(Trigger).where(Trigger.workflow_id == wf.id)).first()
    before = export_definition(session, actor, wf.id)
    _apply_definition(session, wf, definition, trigger)
    wf.version += 1
    wf.updated_at = utcnow()
    session.add(wf)
    session.flush()
    hook_cache.forget()
    audit.record(session, actor, "workflow.update", "workflow", wf.id, workflow_diff(
        before, export_definition(session, actor, wf.id), version=(wf.version - 1, wf.version),
        secrets_set=secrets_in(definition.trigger.config, SECRET_AUTH_FIELDS)))
    return wf


def set_enabled(session: Session, actor: Actor, workflow_id: str, enabled: bool) -> Workflow:
    actor.require(Role.editor)
    wf = get_workflow(session, actor, workflow_id)
    wf.enabled = enabled
    wf.updated_at = utcnow()
    session.add(wf)
    trigger = session.exec(select(Trigger).where(Trigger.workflow_id == wf.id)).first()
    if trigger is not None and trigger.type == "cron":
        trigger.next_fire_at = next_fire_times(trigger.config["expression"], wf.timezone, utcnow())[0]
        session.add(trigger)
    hook_cache.forget()
    audit.record(session, actor, "workflow.enable" if enabled else "workflow.disable", "workflow", wf.id,
                 {"enabled": enabled})
    return wf


def delete_workflow(session: Session, actor: Actor, workflow_id: str) -> None:
    """Delete a workflow with its steps, trigger and run history."""
    actor.require(Role.editor)
    wf = get_workflow(session, actor, workflow_id)
    run_ids = sa_select(Run.id).where(Run.workflow_id == wf.id)
    session.exec(delete(StepRun).where(StepRun.run_id.in_(run_ids)))  # type: ignore[call-overload]
    session.exec(delete(Run).where(Run.workflow_id == wf.id))  # type: ignore[call-overload]
    session.exec(delete(Step).where(Step.workflow_id == wf.id))  # type: ignore[call-overload]
    session.exec(delete(Trigger).where(Trigger.workflow_id == wf.id))  # type: ignore[call-overload]
    session.delete(wf)
    hook_cache.forget()
    audit.record(session, actor, "workflow.delete", "workflow", wf.id, {"name": wf.name})


def list_workflows(session: Session, actor: Actor, *, search: str | None = None,
                   cursor: str | None = None, limit: int | None = None) -> dict[str, Any]:
    limit = clamp_limit(limit)
    stmt = select(Workflow).where(Workflow.workspace_id == actor.workspace_id)
    if search:
        pattern = f"%{search.strip().lower()}%"
        stmt = stmt.where(or_(Workflow.name.ilike(pattern), Workflow.description.ilike(pattern)))
    if cursor:
        at, last_id = decode_cursor(cursor)
        stmt = stmt.where(or_(Workflow.created_at < at, (Workflow.created_at == at) & (Workflow.id < last_id)))
    rows = session.exec(stmt.order_by(Workflow.created_at.desc(), Workflow.id.desc()).limit(limit + 1)).all()
    items = [workflow_public(session, wf) for wf in rows[:limit]]
    next_cursor = encode_cursor(as_aware(rows[limit - 1].created_at), rows[limit - 1].id) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


def trigger_public(trigger: Trigger | None) -> dict[str, Any]:
    if trigger is None:
        return {"type": "manual", "config": {}}
    out: dict[str, Any] = {"type": trigger.type, "config": dict(trigger.config)}
    if trigger.type == "webhook":
        out["webhook_path"] = f"/hooks/{trigger.webhook_token}"
        out["secret_set"] = bool(trigger.secret_encrypted)
    if trigger.type == "cron" and trigger.next_fire_at:
        out["next_fire_at"] = as_aware(trigger.next_fire_at).isoformat()
    return out


def steps_of(session: Session, workflow_id: str) -> list[Step]:
    return list(session.exec(select(Step).where(Step.workflow_id == workflow_id).order_by(Step.position)).all())


def step_definition(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"key": step.key, "action": step.action, "config": step.config, "retry": step.retry}
    if step.name:
        out["name"] = step.name
    if step.when:
        out["when"] = step.when
    if step.timeout_s:
        out["timeout_s"] = step.timeout_s
    return out


def export_definition(session: Session, actor: Actor, workflow_id: str) -> dict[str, Any]:
    """The workflow definition (design.md format), without any secret."""
    wf = get_workflow(session, actor, workflow_id)
    trigger = session.exec(select(Trigger).where(Trigger.workflow_id == wf.id)).first()
    return {
        "name": wf.name,
        "description": wf.description,
        "enabled": wf.enabled,
        "timezone": wf.timezone,
        "trigger": {"type": trigger.type if trigger else "manual", "config": dict(trigger.config) if trigger else {}},
        "steps": [step_definition(s) for s in steps_of(session, wf.id)],
    }


def workflow_public(session: Session, wf: Workflow) -> dict[str, Any]:
    trigger = session.exec(select(Trigger).where(Trigger.workflow_id == wf.id)).first()
    out = {
        "id": wf.id,
        "name": wf.name,
        "description": wf.description,
        "enabled": wf.enabled,
        "version": wf.version,
        "timezone": wf.timezone,
        "trigger": trigger_public(trigger),
        "steps": [step_definition(s) for s in steps_of(session, wf.id)],
        "created_at": as_aware(wf.created_at).isoformat(),
        "updated_at": as_aware(wf.updated_at).isoformat(),
    }
    if trigger is not None and trigger.type == "webhook":
        out["webhook_path"] = f"/hooks/{trigger.webhook_token}"
    return out


_snapshots: dict[tuple[str, int, str], dict[str, Any]] = {}


def cached_snapshot(workflow_id: str, version: int, updated_at: datetime) -> dict[str, Any] | None:
    """The run snapshot if this process already built it (the webhook intake skips a query)."""
    return _snapshots.get((workflow_id, version, as_aware(updated_at).isoformat()))


def run_snapshot(session: Session, wf: Workflow) -> dict[str, Any]:
    """The definition a new run executes, cached per (workflow, version, updated_at).

    Runs execute the snapshot taken when they were triggered, so editing a workflow never
    changes a run that is already waiting for a retry.
    """
    key = (wf.id, wf.version, as_aware(wf.updated_at).isoformat())
    snap = cached_snapshot(wf.id, wf.version, wf.updated_at)
    if snap is None:
        snap = {"name": wf.name, "steps": [step_definition(s) for s in steps_of(session, wf.id)]}
        if len(_snapshots) > 4096:
            _snapshots.clear()
        _snapshots[key] = snap
    return snap
