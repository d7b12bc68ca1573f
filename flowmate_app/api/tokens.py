"""/api/v1/tokens: create (the token is shown once), list, revoke. Admins and owners."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from engine.db import session_scope
from engine.services import accounts
from engine.services.actor import Actor
from flowmate_app.api.deps import current_actor
from flowmate_app.api.errors import responses
from flowmate_app.api.schemas import TokenCreated, TokenIn, TokenList

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], responses=responses(400, 401, 403, 422))


@router.get("", response_model=TokenList, summary="List API tokens (never their values)")
def list_tokens(actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return {"items": accounts.list_tokens(session, actor)}


@router.post("", status_code=201, response_model=TokenCreated, summary="Create an API token (shown once)")
def create_token(body: TokenIn, actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        token, clear = accounts.create_token(session, actor, role=body.role, name=body.name,
                                             expires_in_days=body.expires_in_days)
        return {**accounts.token_public(token), "token": clear}


@router.delete("/{token_id}", status_code=204, responses=responses(404), summary="Revoke an API token")
def revoke_token(token_id: str, actor: Actor = Depends(current_actor)) -> Response:
    with session_scope() as session:
        accounts.revoke_token(session, actor, token_id)
    return Response(status_code=204)
