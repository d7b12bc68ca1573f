"""``xero.upsert_contact``: create a Xero contact, or update the one with the same email/name.

Xero contact names are unique per organisation, so the contact is matched by email first and by
name second; ``POST /Contacts`` with the ContactID updates, without it creates. Empty fields are
not sent, so they never blank what Xero already has.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._xero import xero_call, xero_connection
from engine.actions.xero_find_contact import contact_summary, find
from engine.context import ActionContext
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Xero connection", description="Name or id of a xero connection.",
                            examples=["xero"])
    name: str = Field(title="Contact name", min_length=1, max_length=255, examples=["{{ trigger.body.company }}"],
                      description="Xero's contact name (unique in the organisation): a business or a person.")
    email: str | None = Field(None, title="Email", max_length=255, examples=["{{ trigger.body.email }}"],
                              description="Used to find an existing contact first.")
    first_name: str | None = Field(None, title="First name", max_length=255, examples=["Mia"])
    last_name: str | None = Field(None, title="Last name", max_length=255, examples=["Nguyen"])
    phone: str | None = Field(None, title="Phone", max_length=50, examples=["0412 345 678"])
    account_number: str | None = Field(None, title="Account number", max_length=50, examples=["CUST-042"],
                                       description="Your own customer number, shown in Xero.")
    tax_number: str | None = Field(None, title="ABN", max_length=50, examples=["53 004 085 616"],
                                   description="The contact's ABN (Xero 'TaxNumber').")
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])

    def xero_contact(self) -> dict[str, Any]:
        fields = {"Name": self.name.strip(), "EmailAddress": self.email, "FirstName": self.first_name,
                  "LastName": self.last_name, "AccountNumber": self.account_number, "TaxNumber": self.tax_number}
        out: dict[str, Any] = {k: v.strip() for k, v in fields.items() if isinstance(v, str) and v.strip()}
        if self.phone and self.phone.strip():
            out["Phones"] = [{"PhoneType": "DEFAULT", "PhoneNumber": self.phone.strip()}]
        return out


@action(
    "xero.upsert_contact",
    config=Config,
    title="Create or update Xero contact",
    description="Find a Xero contact by email (or name) and update it, or create it.",
    category="accounting",
    side_effect=True,
    connection_types=("xero",),
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    conn, base, tenant = xero_connection(ctx, config.connection)
    existing = None
    if config.email and config.email.strip():
        existing = await find(ctx, conn, base, tenant, email=config.email, name=None, timeout=config.timeout_s)
    if existing is None:
        existing = await find(ctx, conn, base, tenant, email=None, name=config.name, timeout=config.timeout_s)
    body = config.xero_contact()
    if existing is not None:
        body["ContactID"] = existing["ContactID"]
    data = await xero_call(ctx, conn, base, tenant, "POST", "/Contacts", what="Xero upsert contact",
                           timeout=config.timeout_s, json={"Contacts": [body]},
                           idempotency_key=ctx.idempotency_key)
    contact = (data.get("Contacts") or [{}])[0]
    return {**contact_summary(contact), "action": "updated" if existing is not None else "created"}
