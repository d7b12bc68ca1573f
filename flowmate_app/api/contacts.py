"""/api/v1/contacts: the workspace's contacts with their consent state (read-only; any member,
like the Contacts page). Keyset pages; filter by email or SMS consent state."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from engine.db import session_scope
from engine.services import contacts as service
from engine.services.actor import Actor
from flowmate_app.api.common import Cursor, Limit
from flowmate_app.api.deps import current_actor
from flowmate_app.api.errors import responses

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"], responses=responses(400, 401, 422))

ConsentState = Literal["unknown", "granted", "withdrawn"]


class ContactOut(BaseModel):
    id: str
    email: str
    phone: str
    name: str
    email_consent: str
    sms_consent: str
    email_suppressed: bool
    sms_suppressed: bool
    created_at: str
    updated_at: str


class ContactList(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None = None


class ConsentChange(BaseModel):
    channel: str
    status: str
    source: str
    wording: str
    actor: str
    at: str


class SuppressionOut(BaseModel):
    id: str
    channel: str
    address: str
    reason: str
    source: str
    created_at: str


class ContactDetail(ContactOut):
    history: list[ConsentChange]
    suppressions: list[SuppressionOut]


@router.get("", response_model=ContactList, summary="List contacts, newest first")
def list_contacts(email_consent: ConsentState | None = None, sms_consent: ConsentState | None = None,
                  cursor: str | None = Cursor, limit: int | None = Limit,
                  actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return service.page_contacts(session, actor, email_consent=email_consent, sms_consent=sms_consent,
                                     cursor=cursor, limit=limit)


@router.get("/{contact_id}", response_model=ContactDetail, summary="One contact with its consent history",
            responses=responses(404))
def get_contact(contact_id: str = Path(max_length=64), actor: Actor = Depends(current_actor)) -> Any:
    with session_scope() as session:
        return service.contact_detail(session, actor, contact_id)
