"""/api/v1/usage: this month's runs and steps against the quota, plus monthly history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlmodel import select

from engine.config import get_settings
from engine.db import session_scope
from engine.models import Workspace
from engine.services.actor import Actor
from engine.services.usage import month_of, usage_history
from flowmate_app.api.deps import current_actor
from flowmate_app.api.errors import responses
from flowmate_app.api.schemas import UsageOut

router = APIRouter(prefix="/api/v1/usage", tags=["usage"], responses=responses(400, 401, 422))


@router.get("", response_model=UsageOut, summary="Usage this month and history")
def get_usage(months: int = Query(12, ge=1, le=60), actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        history = usage_history(session, actor.workspace_id, months)
        ws_quota = session.exec(select(Workspace.monthly_run_quota).where(Workspace.id == actor.workspace_id)).first()
    quota = ws_quota or get_settings().monthly_run_quota
    month = month_of()
    current = next((h for h in history if h["month"] == month), {"month": month, "runs": 0, "steps": 0})
    return {**current, "quota": quota, "remaining": max(0, quota - current["runs"]), "history": history}
