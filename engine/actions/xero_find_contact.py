"""``xero.find_contact``: look a Xero contact up by email address or by name.

Uses ``GET /Contacts?where=EmailAddress=="..."`` (or ``Name==``), Xero's filter syntax; quotes
in the value are escaped so a name like ``O"Brien`` cannot break out of the filter.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.actions._xero import xero_call, xero_connection
from engine.context import ActionContext
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Xero connection", description="Name or id of a xero connection.",
                            examples=["xero"])
    email: str | None = Field(None, title="Email", max_length=255, examples=["{{ trigger.body.email }}"],
                              description="Find the contact with this email address (case-insensitive).")
    name: str | None = Field(None, title="Contact name", max_length=255, examples=["Harbour Bakery"],
                             description="Or find it by its exact Xero contact name.")
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])

    @model_validator(mode="after")
    def _one_key(self) -> Config:
        if not (self.email or "").strip() and not (self.name or "").strip():
            raise ValueError("set email or name")
        return self


def where_clause(field: str, value: str) -> str:
    escaped = value.strip().replace("\\", "\\\\").replace('"', '\\"')
    return f'{field}=="{escaped}"'


def contact_summary(contact: dict[str, Any]) -> dict[str, Any]:
    return {"contact_id": contact.get("ContactID"), "name": contact.get("Name"),
            "email": contact.get("EmailAddress"), "first_name": contact.get("FirstName"),
            "last_name": contact.get("LastName"), "status": contact.get("ContactStatus")}


async def find(ctx: ActionContext, conn: Any, base: str, tenant: str, *, email: str | None, name: str | None,
               timeout: float) -> dict[str, Any] | None:
    field, value = ("EmailAddress", email) if (email or "").strip() else ("Name", name or "")
    data = await xero_call(ctx, conn, base, tenant, "GET", "/Contacts", what="Xero find contact", timeout=timeout,
                           params={"where": where_clause(field, value)})
    contacts = data.get("Contacts") or []
    return contacts[0] if contacts else None


@action(
    "xero.find_contact",
    config=Config,
    title="Find Xero contact",
    description="Look up a Xero contact by email or name; 'found' is false when there is none.",
    category="accounting",
    side_effect=False,
    connection_types=("xero",),
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    conn, base, tenant = xero_connection(ctx, config.connection)
    contact = await find(ctx, conn, base, tenant, email=config.email, name=config.name, timeout=config.timeout_s)
    return {"found": contact is not None, **(contact_summary(contact) if contact else {"contact_id": None})}
