"""/api/v1/templates: the gallery (list, show) and instantiate into a workflow."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from engine import catalog
from engine.db import session_scope
from engine.models import Role
from engine.services.actor import Actor
from engine.services.workflows import workflow_public
from flowmate_app.api.deps import current_actor
from flowmate_app.api.errors import responses
from flowmate_app.api.schemas import InstantiateIn, InstantiateOut, TemplateOut, TemplateSummary

router = APIRouter(prefix="/api/v1/templates", tags=["templates"], responses=responses(400, 401, 422))


@router.get("", response_model=dict[str, list[TemplateSummary]], summary="List templates")
def list_templates(
    search: str | None = Query(None, max_length=200), category: str | None = Query(None, max_length=100),
    _actor: Actor = Depends(current_actor),
) -> Any:
    return {"items": catalog.list_templates(search=search, category=category)}


@router.get("/{slug}", response_model=TemplateOut, responses=responses(404),
            summary="A template: variables, needed connections, rendered definition")
def get_template(slug: str, _actor: Actor = Depends(current_actor)) -> Any:
    return catalog.template_public(catalog.get_template(slug))


@router.post("/{slug}/instantiate", status_code=201, response_model=InstantiateOut, responses=responses(403, 404),
             summary="Create a workflow from a template")
def instantiate(slug: str, response: Response, body: InstantiateIn | None = None,
                actor: Actor = Depends(current_actor)) -> Any:
    actor.require(Role.editor)  # before variable checks: a viewer learns nothing but "not allowed"
    body = body or InstantiateIn()
    with session_scope() as session:
        missing = catalog.missing_connections(session, actor, slug, body.variables)
        wf = catalog.instantiate(session, actor, slug, body.variables, name=body.name)
        out = {**workflow_public(session, wf), "missing_connections": missing}
    response.headers["Location"] = f"/api/v1/workflows/{out['id']}"
    return out
