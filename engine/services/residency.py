"""Data residency: where this deployment keeps data, and where each flow sends it.

- ``FLOWMATE_DATA_REGION`` (``au-syd``, ``au-mel``, ...; ``local`` on a developer's machine)
  declares where the deployment stores data. The database records the region it was created for
  at its first migration (``deploymentfact``); every process compares the two at start-up and
  refuses to run on a mismatch, so an Australian deployment pointed at the wrong database stops
  instead of writing personal data abroad.
- A workspace's ``data_region`` is a jurisdiction (``au``, ``nz``, ...); a deployment only serves
  its own (``local`` serves all), and export storage must be in the same jurisdiction.
- Connection types declare where their provider processes data; a step whose provider is outside
  the workspace's jurisdiction is a cross-border disclosure (Australian Privacy Principle 8), shown
  on the builder step and listed on the Data page.
"""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.config import DEPLOYMENT_REGIONS, get_settings
from engine.errors import ValidationFailed
from engine.models import Connection, Step, Workflow, Workspace
from engine.region import (  # noqa: F401 - re-exported: the database side lives in engine.region
    REGION_KEY,
    RegionMismatch,
    check_region,
    deployment_region,
    mismatch_message,
    record_region,
    recorded_region,
)
from engine.services.actor import Actor

#: Exit status of a process that refuses to start on a region mismatch (EX_CONFIG).
EXIT_REGION_MISMATCH = 78

#: Jurisdictions a workspace's data can live in (``Workspace.data_region``) and where a provider
#: may process data; ``unknown`` only describes providers.
LOCATIONS: dict[str, str] = {
    "au": "Australia", "nz": "New Zealand", "sg": "Singapore", "us": "United States", "eu": "European Union",
    "unknown": "Unknown",
}
#: AWS-style storage regions by jurisdiction (S3-compatible services use the same names).
_STORAGE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("ap-southeast-2", "au"), ("ap-southeast-4", "au"), ("ap-southeast-6", "nz"), ("ap-southeast-1", "sg"),
    ("us-", "us"), ("eu-", "eu"),
)


# ------------------------------------------------------------------ deployment region


def jurisdiction(region: str | None = None) -> str | None:
    """The jurisdiction a deployment region keeps data in (None for ``local``: all of them)."""
    return DEPLOYMENT_REGIONS[region or deployment_region()][0]


def served_workspace_regions() -> list[str]:
    """Workspace data regions this deployment may hold."""
    own = jurisdiction()
    return [own] if own else [k for k in LOCATIONS if k != "unknown"]


def default_workspace_region() -> str:
    return jurisdiction() or "au"


def check_workspace_region(region: str) -> str:
    """``region`` if this deployment serves it; a field error naming what it does serve otherwise."""
    served = served_workspace_regions()
    if region not in served:
        raise ValidationFailed(
            "this deployment does not keep data in that region",
            {"data_region": f"this deployment ({deployment_region()}) serves {', '.join(served)} only"})
    return region


def enforce(process: str) -> None:
    """Start-up gate of every process: on a region mismatch print why and exit non-zero."""
    from engine.db import get_engine

    try:
        check_region(get_engine())
    except RegionMismatch as exc:
        sys.stderr.write(f"flowmate {process}: {exc}\n")
        sys.stderr.flush()
        raise SystemExit(EXIT_REGION_MISMATCH) from None


# ------------------------------------------------------------------ storage


def storage_jurisdiction(storage_region: str | None) -> str | None:
    """The jurisdiction of an AWS-style storage region (``ap-southeast-2`` → ``au``)."""
    if not storage_region:
        return None
    if storage_region in DEPLOYMENT_REGIONS:
        return DEPLOYMENT_REGIONS[storage_region][0]
    for prefix, where in _STORAGE_PREFIXES:
        if storage_region.startswith(prefix):
            return where
    return None


def check_storage_region(storage_region: str | None) -> None:
    """Refuse export storage outside this deployment's jurisdiction."""
    own = jurisdiction()
    if own is None:
        return
    if storage_jurisdiction(storage_region) != own:
        raise ValidationFailed(
            "export storage is outside this deployment's data region",
            {"storage": f"the bucket is in {storage_region or 'an unknown region'}, but this deployment "
                        f"({deployment_region()}) keeps data in {LOCATIONS[own]}"})


# ------------------------------------------------------------------ providers and flows


def provider_location(conn_type: str, config: dict[str, Any] | None = None) -> str:
    """Where a connection's provider processes data: declared by its type, or stated by the user."""
    from engine.services.connections import CONNECTION_TYPES

    kind = CONNECTION_TYPES.get(conn_type)
    declared = kind.data_location if kind else "unknown"
    if declared == "unknown":
        stated = str((config or {}).get("data_location") or "").strip().lower()
        if stated in LOCATIONS:
            return stated
    return declared


def notice_text(workspace_region: str, location: str, provider: str) -> str | None:
    """The cross-border notice for sending workspace data to ``provider`` (None when none is due)."""
    if location == workspace_region:
        return None
    home = LOCATIONS.get(workspace_region, workspace_region)
    if location == "unknown":
        return (f"Where {provider} processes data is unknown. If it is outside {home}, this step is a "
                "cross-border disclosure" + (" under Australian Privacy Principle 8" if workspace_region == "au"
                                             else "") + ": state the location on the connection.")
    where = LOCATIONS.get(location, location)
    app8 = " (Australian Privacy Principle 8)" if workspace_region == "au" else ""
    return (f"Cross-border disclosure{app8}: {provider} processes data in {where}, outside this workspace's "
            f"region ({home}). Make sure your privacy policy and the customer's consent cover it.")


def connection_notices(session: Session, actor: Actor) -> dict[str, str]:
    """Notice per connection name and id of the actor's workspace (only those that need one)."""
    ws = session.get(Workspace, actor.workspace_id)
    if ws is None:
        return {}
    out: dict[str, str] = {}
    for conn in session.exec(select(Connection).where(Connection.workspace_id == ws.id)).all():
        notice = notice_text(ws.data_region, provider_location(conn.type, conn.config), _provider_name(conn))
        if notice:
            out[conn.name] = out[conn.id] = notice
    return out


def _provider_name(conn: Connection) -> str:
    from engine.services.connections import CONNECTION_TYPES

    kind = CONNECTION_TYPES.get(conn.type)
    title = kind.title if kind else conn.type
    return title if conn.name.strip().lower() == title.lower() else f"{title} ({conn.name})"


def _step_connections(config: dict[str, Any]) -> list[str]:
    refs = []
    for key in ("connection", "secret_connection"):
        value = config.get(key)
        if isinstance(value, str) and value.strip() and "{{" not in value:
            refs.append(value.strip())
    return refs


def cross_border_flows(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Every step of the workspace's workflows that sends data outside the workspace's region."""
    ws = session.get(Workspace, actor.workspace_id)
    if ws is None:
        return []
    conns: dict[str, Connection] = {}
    for conn in session.exec(select(Connection).where(Connection.workspace_id == ws.id)).all():
        conns[conn.name] = conns[conn.id] = conn
    rows = session.exec(
        select(Workflow, Step).join(Step, Step.workflow_id == Workflow.id)
        .where(Workflow.workspace_id == ws.id).order_by(Workflow.name, Step.position)
    ).all()
    flows = []
    for wf, step in rows:
        for ref in _step_connections(step.config or {}):
            conn = conns.get(ref)
            if conn is None:
                continue
            location = provider_location(conn.type, conn.config)
            notice = notice_text(ws.data_region, location, _provider_name(conn))
            if notice:
                flows.append({"workflow_id": wf.id, "workflow_name": wf.name, "step_key": step.key,
                              "action": step.action, "connection": conn.name, "connection_type": conn.type,
                              "location": location, "location_name": LOCATIONS.get(location, location),
                              "notice": notice})
    return flows


# ------------------------------------------------------------------ report


def _redis_host(url: str | None) -> str | None:
    if not url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}"


def report(engine: Engine) -> dict[str, Any]:
    """Where each store lives: database, queue, export storage, every provider in use (as JSON)."""
    from engine.storage import export_storage

    settings = get_settings()
    url = engine.url
    recorded = recorded_region(engine)
    storage = export_storage()
    with Session(engine) as session:
        used = session.exec(select(Connection.type, Connection.config)).all()
        workspaces = session.exec(select(Workspace.data_region)).all()
    types: dict[str, dict[str, Any]] = {}
    for conn_type, config in used:
        entry = types.setdefault(conn_type, {"type": conn_type, "connections": 0, "locations": set()})
        entry["connections"] += 1
        entry["locations"].add(provider_location(conn_type, config))
    connection_types = [{"type": t["type"], "connections": t["connections"],
                         "data_locations": sorted(t["locations"])} for t in sorted(types.values(),
                                                                                   key=lambda e: e["type"])]
    return {
        "configured_region": settings.data_region,
        "jurisdiction": jurisdiction(),
        "region_matches": recorded in (None, settings.data_region),
        "database": {"dialect": url.get_backend_name(), "host": url.host or None,
                     "database": url.database, "recorded_region": recorded},
        "queue": ({"kind": "redis", "host": _redis_host(settings.redis_url)} if settings.redis_url
                  else {"kind": "in-process", "host": None}),
        "export_storage": storage.describe(),
        "workspaces_by_region": {r: sum(1 for w in workspaces if w == r) for r in sorted(set(workspaces))},
        "connection_types": connection_types,
    }
