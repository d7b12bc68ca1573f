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
from engine.definition import RetryPolicy, WorkflowDefinition, validate_definition
from engine.errors import NotFound, ValidationFailed
from engine.models import Approval, Role, Run, Step, StepRun, Trigger, WaitToken, Workflow
from engine.registry import get_trigger
from engine.schemas import WorkflowPublic
from engine.services import audit, hook_cache
from engine.services.actor import Actor
from engine.services.pagination import keyset_page
from engine.services.workflow_diff import secrets_in, workflow_diff
from engine.triggers.webhook import SECRET_AUTH_FIELDS


def get_workflow(session: Session, actor: Actor, workflow_id: str) -> Workflow:
    wf = session.exec(
        select(Workflow).where(Workflow.id == workflow_id, Workflow.workspace_id == actor.workspace_id)
    ).first()
    if wf is None:
        raise NotFound("workflow not found")
    return wf


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
    kind = get_trigger(trigger.type)
    config, secret = kind.prepare(config, old_secret)
    trigger.secret_encrypted = encrypt_json(secret) if secret else None
    trigger.webhook_token = (trigger.webhook_token or new_token("")) if kind.has_endpoint else None
    trigger.next_fire_at = kind.next_fire_at(config, wf.timezone, utcnow())
    trigger.config = config
    session.add(trigger)

    session.exec(delete(Step).where(Step.workflow_id == wf.id))  # type: ignore[call-overload]
    for position, step in enumerate(definition.steps):
        session.add(Step(
            workflow_id=wf.id, key=step.key, action=step.action, name=step.name, config=step.config,
            retry=step.retry.model_dump(), when=step.when, timeout_s=step.timeout_s, position=position,
            flow=flow_fields(step),
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
    if trigger is not None:
        trigger.next_fire_at = get_trigger(trigger.type).next_fire_at(trigger.config, wf.timezone, utcnow())
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
    session.exec(delete(Approval).where(Approval.run_id.in_(run_ids)))  # type: ignore[call-overload]
    session.exec(delete(WaitToken).where(WaitToken.run_id.in_(run_ids)))  # type: ignore[call-overload]
    session.exec(delete(Run).where(Run.workflow_id == wf.id))  # type: ignore[call-overload]
    session.exec(delete(Step).where(Step.workflow_id == wf.id))  # type: ignore[call-overload]
    session.exec(delete(Trigger).where(Trigger.workflow_id == wf.id))  # type: ignore[call-overload]
    session.delete(wf)
    hook_cache.forget()
    audit.record(session, actor, "workflow.delete", "workflow", wf.id, {"name": wf.name})


def list_workflows(session: Session, actor: Actor, *, search: str | None = None,
                   cursor: str | None = None, limit: int | None = None) -> dict[str, Any]:
    stmt = select(Workflow).where(Workflow.workspace_id == actor.workspace_id)
    if search:
        pattern = f"%{search.strip().lower()}%"
        stmt = stmt.where(or_(Workflow.name.ilike(pattern), Workflow.description.ilike(pattern)))
    return keyset_page(session, stmt, Workflow, cursor=cursor, limit=limit,
                       public=lambda wf: workflow_public(session, wf))


def trigger_public(trigger: Trigger | None) -> dict[str, Any]:
    """The trigger as the API, CLI and UI show it: its type's ``public_view`` (never a secret)."""
    if trigger is None:
        return {"type": "manual", "config": {}}
    try:
        kind = get_trigger(trigger.type)
    except KeyError:  # its plugin was uninstalled: show what is stored, nothing more
        return {"type": trigger.type, "config": dict(trigger.config)}
    return kind.public_view(dict(trigger.config), token=trigger.webhook_token,
                            secret_set=bool(trigger.secret_encrypted), next_fire_at=as_aware(trigger.next_fire_at))


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
    out.update(step.flow or {})
    return out


def flow_fields(step: Any) -> dict[str, Any] | None:
    """A top-level step's flow-control fields as stored in ``Step.flow`` (``on_error`` and the
    nested ``branches``/``steps``, exported exactly as saved); None for a plain step."""
    data = step.model_dump(include={"on_error", "branches", "steps"}, exclude_none=True)
    if data.get("on_error") == "fail":
        data.pop("on_error")
    return _compact(data) or None


def _compact(value: Any) -> Any:
    """Nested steps without default-valued noise, the way a person writes them (``on_error:
    fail``, empty names, the default retry policy are left out)."""
    default_retry = RetryPolicy().model_dump()
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None or (key in ("name",) and item == "") or (key == "on_error" and item == "fail"):
            continue
        if key == "retry" and item == default_retry:
            continue
        if key == "default" and item is False:
            continue
        out[key] = _compact(item) if key in ("branches", "steps") else item
    return out


def export_definition(session: Session, actor: Actor, workflow_id: str) -> dict[str, Any]:
    """The workflow definition (the format engine.definition validates), without any secret."""
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
    """:func:`workflow_view` as plain JSON data (what the CLI prints and a Reflex state holds)."""
    return workflow_view(session, wf).model_dump(exclude_unset=True)


def workflow_view(session: Session, wf: Workflow) -> WorkflowPublic:
    """The workflow shape shared by the API, the CLI and the UI (never a secret value)."""
    trigger = session.exec(select(Trigger).where(Trigger.workflow_id == wf.id)).first()
    shown_trigger = trigger_public(trigger)
    out = {
        "id": wf.id,
        "name": wf.name,
        "description": wf.description,
        "enabled": wf.enabled,
        "version": wf.version,
        "timezone": wf.timezone,
        "trigger": shown_trigger,
        "steps": [step_definition(s) for s in steps_of(session, wf.id)],
        "created_at": as_aware(wf.created_at).isoformat(),
        "updated_at": as_aware(wf.updated_at).isoformat(),
    }
    if "webhook_path" in shown_trigger:
        out["webhook_path"] = shown_trigger["webhook_path"]
    return WorkflowPublic.model_validate(out)


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
