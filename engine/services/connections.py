"""Connections: credentials for outside services, secrets encrypted at rest and write-only.

The clear secret only exists in memory while an action runs (``load_connection``); API answers,
the UI, logs, audit rows and step inputs only ever see which secret fields are set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, or_, select

from engine.context import ConnectionData
from engine.crypto import decrypt_json, encrypt_json
from engine.db import as_aware, session_scope, utcnow
from engine.definition import pydantic_fields
from engine.errors import Conflict, NotFound, PermanentError, ValidationFailed
from engine.models import Connection, Role
from engine.registry import ConnectionType, all_connection_types
from engine.services import audit
from engine.services.actor import Actor
from engine.services.connection_checks import check_connection, record_test, run_check_sync


class _ConnectionTypes(Mapping[str, type[ConnectionType]]):
    """Every registered connection type by name (built-in and plugin), read from the registry.

    A live view rather than a dict built at import, so a plugin loaded at start-up shows up.
    """

    def __getitem__(self, name: str) -> type[ConnectionType]:
        return all_connection_types()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(all_connection_types())

    def __len__(self) -> int:
        return len(all_connection_types())


CONNECTION_TYPES: Mapping[str, type[ConnectionType]] = _ConnectionTypes()


#: Values a user may state for ``data_location`` (engine.services.residency.LOCATIONS).
DATA_LOCATIONS = ("au", "nz", "sg", "us", "eu", "unknown")



class ConnectionInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    secret: dict[str, SecretStr] = Field(default_factory=dict)


def _split(kind: type[ConnectionType], config: dict[str, Any], secret: dict[str, SecretStr],
           old_secret: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    fields: dict[str, str] = {}
    for key in config:
        if key not in kind.config_fields:
            fields[f"config.{key}"] = f"unknown field for a {kind.name} connection"
    for key in secret:
        if key not in kind.secret_fields:
            fields[f"secret.{key}"] = f"unknown secret field for a {kind.name} connection"
    clear = {**old_secret, **{k: v.get_secret_value() for k, v in secret.items() if v.get_secret_value()}}
    for key in kind.required:
        if key in kind.config_fields and config.get(key) in (None, ""):
            fields[f"config.{key}"] = "required"
        if key in kind.secret_fields and not clear.get(key):
            fields[f"secret.{key}"] = "required"
    if config.get("data_location") not in (None, "", *DATA_LOCATIONS):
        fields["config.data_location"] = f"must be one of {', '.join(DATA_LOCATIONS)}"
    if fields:
        raise ValidationFailed("the connection is invalid", fields)
    return config, clear


def _parse(raw: Any) -> tuple[ConnectionInput, type[ConnectionType]]:
    try:
        data = ConnectionInput.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed("the connection is invalid", pydantic_fields(exc)) from None
    kind = CONNECTION_TYPES.get(data.type)
    if kind is None:
        raise ValidationFailed("unknown connection type",
                               {"type": f"must be one of {', '.join(sorted(CONNECTION_TYPES))}"})
    return data, kind


def connection_public(conn: Connection) -> dict[str, Any]:
    """Never includes secret values: only which secret fields are set."""
    kind = CONNECTION_TYPES.get(conn.type)
    secret_keys = sorted(decrypt_json(conn.secret_encrypted).keys()) if conn.secret_encrypted else []
    return {
        "id": conn.id, "type": conn.type, "name": conn.name, "config": conn.config,
        "secret_fields": list(kind.secret_fields) if kind else [],
        "secrets_set": secret_keys,
        "created_at": as_aware(conn.created_at).isoformat(), "updated_at": as_aware(conn.updated_at).isoformat(),
    }


def create_connection(session: Session, actor: Actor, raw: Any) -> Connection:
    actor.require(Role.editor)
    data, kind = _parse(raw)
    config, clear = _split(kind, data.config, data.secret, {})
    conn = Connection(workspace_id=actor.workspace_id, type=data.type, name=data.name.strip(), config=config,
                      secret_encrypted=encrypt_json(clear))
    session.add(conn)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"a connection named {data.name!r} already exists") from None
    audit.record(session, actor, "connection.create", "connection", conn.id,
                 {"type": conn.type, "name": conn.name, "secrets_set": sorted(clear)})
    return conn


def get_connection(session: Session, actor: Actor, connection_id: str) -> Connection:
    conn = session.exec(select(Connection).where(Connection.id == connection_id,
                                                 Connection.workspace_id == actor.workspace_id)).first()
    if conn is None:
        raise NotFound("connection not found")
    return conn


def update_connection(session: Session, actor: Actor, connection_id: str, raw: Any) -> Connection:
    """Update name/config; secret fields left out (or empty) keep their stored value."""
    actor.require(Role.editor)
    conn = get_connection(session, actor, connection_id)
    raw = {"type": conn.type, "name": conn.name, **(raw or {})}
    data, kind = _parse(raw)
    if data.type != conn.type:
        raise ValidationFailed("the type of a connection cannot change", {"type": "create a new connection"})
    config, clear = _split(kind, data.config or conn.config, data.secret, decrypt_json(conn.secret_encrypted))
    conn.name, conn.config, conn.secret_encrypted = data.name.strip(), config, encrypt_json(clear)
    conn.updated_at = utcnow()
    session.add(conn)
    audit.record(session, actor, "connection.update", "connection", conn.id,
                 {"name": conn.name, "secrets_changed": sorted(data.secret)})
    return conn


def delete_connection(session: Session, actor: Actor, connection_id: str) -> None:
    actor.require(Role.editor)
    conn = get_connection(session, actor, connection_id)
    session.delete(conn)
    audit.record(session, actor, "connection.delete", "connection", conn.id, {"name": conn.name})


def list_connections(session: Session, actor: Actor, type_: str | None = None) -> list[dict[str, Any]]:
    stmt = select(Connection).where(Connection.workspace_id == actor.workspace_id)
    if type_:
        stmt = stmt.where(Connection.type == type_)
    return [connection_public(c) for c in session.exec(stmt.order_by(Connection.name)).all()]


def load_connection(workspace_id: str, ref: str) -> ConnectionData:
    """Decrypt a connection (by id or name) for an action; only ever held in memory."""
    with session_scope() as session:
        conn = session.exec(select(Connection).where(
            Connection.workspace_id == workspace_id, or_(Connection.id == ref, Connection.name == ref))).first()
        if conn is None:
            raise PermanentError(f"connection {ref!r} not found in this workspace")
        return ConnectionData(id=conn.id, type=conn.type, name=conn.name, config=dict(conn.config),
                              secret=decrypt_json(conn.secret_encrypted) if conn.secret_encrypted else {})


def test_connection(session: Session, actor: Actor, connection_id: str) -> dict[str, Any]:
    """Make one cheap real call with the stored credentials; ``{"ok", "message", ...}``, never raises
    for provider failures (see engine.services.connection_checks)."""
    actor.require(Role.editor)  # an outbound call with the stored credentials: not for viewers
    data = _connection_data(get_connection(session, actor, connection_id))
    return record_test(session, actor, connection_id, run_check_sync(data))


async def test_connection_async(session: Session, actor: Actor, connection_id: str) -> dict[str, Any]:
    """The same as :func:`test_connection`, for callers already inside an event loop (the API)."""
    actor.require(Role.editor)
    data = _connection_data(get_connection(session, actor, connection_id))
    return record_test(session, actor, connection_id, await check_connection(data))


def _connection_data(conn: Connection) -> ConnectionData:
    return ConnectionData(id=conn.id, type=conn.type, name=conn.name, config=dict(conn.config),
                          secret=decrypt_json(conn.secret_encrypted) if conn.secret_encrypted else {})
