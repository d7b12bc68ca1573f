"""/api/v1/connections: list, create, get, update, delete, test. Secrets are write-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from engine.db import session_scope
from engine.services import connections as service
from engine.services.actor import Actor
from flowmate_app.api.deps import current_actor
from flowmate_app.api.errors import responses
from flowmate_app.api.schemas import ConnectionIn, ConnectionList, ConnectionOut, ConnectionPatch

router = APIRouter(prefix="/api/v1/connections", tags=["connections"], responses=responses(400, 401, 422))


@router.get("", response_model=ConnectionList, summary="List connections (never with secret values)")
def list_connections(type: str | None = Query(None, max_length=32), actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return {"items": service.list_connections(session, actor, type)}


@router.post("", status_code=201, response_model=ConnectionOut, responses=responses(403, 409),
             summary="Create a connection")
def create_connection(body: ConnectionIn, response: Response, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        out = service.connection_public(service.create_connection(session, actor, body.model_dump()))
    response.headers["Location"] = f"/api/v1/connections/{out['id']}"
    return out


@router.get("/{connection_id}", response_model=ConnectionOut, responses=responses(404), summary="Get a connection")
def get_connection(connection_id: str, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return service.connection_public(service.get_connection(session, actor, connection_id))


@router.patch("/{connection_id}", response_model=ConnectionOut, responses=responses(403, 404, 409),
              summary="Update a connection (secret fields left out keep their value)")
def update_connection(connection_id: str, body: ConnectionPatch, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        conn = service.update_connection(session, actor, connection_id, body.model_dump(exclude_none=True))
        return service.connection_public(conn)


@router.delete("/{connection_id}", status_code=204, responses=responses(403, 404), summary="Delete a connection")
def delete_connection(connection_id: str, actor: Actor = Depends(current_actor)) -> Response:
    with session_scope() as session:
        service.delete_connection(session, actor, connection_id)
    return Response(status_code=204)


@router.post("/{connection_id}/test", response_model=dict[str, Any], responses=responses(403, 404),
             summary="Make one cheap real call with the stored credentials")
async def test_connection(connection_id: str, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return await service.test_connection_async(session, actor, connection_id)
