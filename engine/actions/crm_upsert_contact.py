"""``crm.upsert_contact``: create or update a HubSpot contact, matched by email.

Uses the HubSpot CRM v3 contacts API: ``POST /crm/v3/objects/contacts/search`` (email EQ),
then ``PATCH /crm/v3/objects/contacts/{id}`` or ``POST /crm/v3/objects/contacts``. If a create
races with another writer and HubSpot answers 409 "Contact already exists. Existing ID: N",
we update contact N instead, so the step stays an upsert. Empty values are not sent: an
enquiry form without a phone number never blanks the phone HubSpot already has.
"""

from __future__ import annotations

import re
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.actions._provider import join_url, json_body, raise_for_status, reveal, send
from engine.context import ActionContext, ConnectionData
from engine.errors import PermanentError
from engine.registry import action

HUBSPOT_BASE = "https://api.hubapi.com"
CONTACTS = "/crm/v3/objects/contacts"
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")
_PROPERTY_NAME = re.compile(r"^[a-z0-9_]{1,100}$")


class Config(BaseModel):
    """The builder's form for upserting a CRM contact."""

    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="HubSpot connection", description="Name or id of a hubspot connection.",
                            examples=["hubspot"])
    email: str = Field(title="Email", description="The contact is found (or created) by this address.",
                       examples=["{{ trigger.body.email }}"], max_length=320)
    first_name: str | None = Field(None, title="First name", examples=["{{ trigger.body.first_name }}"],
                                   description="HubSpot 'firstname'; left unchanged when empty.")
    last_name: str | None = Field(None, title="Last name", examples=["{{ trigger.body.last_name }}"],
                                  description="HubSpot 'lastname'; left unchanged when empty.")
    phone: str | None = Field(None, title="Phone", examples=["{{ trigger.body.phone }}"],
                              description="HubSpot 'phone'; left unchanged when empty.")
    company: str | None = Field(None, title="Company", examples=["{{ trigger.body.company }}"],
                                description="HubSpot 'company'; left unchanged when empty.")
    properties: dict[str, Any] = Field(
        default_factory=dict, title="Other properties",
        description="Any HubSpot contact properties by internal name (e.g. lifecyclestage, city).",
        examples=[{"lifecyclestage": "lead", "city": "{{ trigger.body.suburb }}"}],
    )
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30],
                             description="Give up (and retry per the step's retry policy) after this many seconds.")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise ValueError(f"{value!r} is not a valid email address: {exc}") from None

    @field_validator("properties")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in value if not _PROPERTY_NAME.match(k)]
        if bad:
            raise ValueError(f"HubSpot property names are lowercase internal names; not valid: {', '.join(bad)}")
        return value

    def hubspot_properties(self) -> dict[str, str]:
        """Properties to write: named fields win over ``properties``; empty values are left out."""
        props: dict[str, Any] = dict(self.properties)
        named = {"firstname": self.first_name, "lastname": self.last_name, "phone": self.phone,
                 "company": self.company}
        props.update({k: v for k, v in named.items() if v is not None})
        out = {k: _as_text(v) for k, v in props.items() if v is not None and _as_text(v) != ""}
        out["email"] = self.email
        return out


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _auth(conn: ConnectionData) -> tuple[str, str]:
    if conn.type != "hubspot":
        raise PermanentError(f"connection {conn.name!r} has type {conn.type!r}, expected 'hubspot'")
    token = reveal(conn.secret.get("access_token") or "")
    if not token:
        raise PermanentError(f"connection {conn.name!r} has no access_token")
    return conn.config.get("base_url") or HUBSPOT_BASE, token


@action(
    "crm.upsert_contact",
    config=Config,
    title="Create or update CRM contact",
    description="Find a HubSpot contact by email and update it, or create it when it does not exist.",
    category="crm",
    side_effect=True,
    connection_types=("hubspot",),
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    base, token = _auth(ctx.get_connection(config.connection))
    secrets = [token]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    props = config.hubspot_properties()

    async def call(method: str, path: str, what: str, body: dict[str, Any]) -> Any:
        response = await send(ctx.settings, method, join_url(base, path), what=what, secrets=secrets,
                              timeout=config.timeout_s, json=body, headers=headers)
        if response.status_code == 409 and method == "POST" and path == CONTACTS:
            match = _EXISTING_ID.search(response.text)
            if match:
                return {"__existing_id": match.group(1)}
        raise_for_status(response, what=what, secrets=secrets)
        return json_body(response) or {}

    found = await call("POST", f"{CONTACTS}/search", "HubSpot contact search", {
        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": config.email}]}],
        "properties": ["email"],
        "limit": 1,
    })
    results = (found.get("results") or []) if isinstance(found, dict) else []
    contact_id = str(results[0]["id"]) if results and results[0].get("id") is not None else None
    outcome = "updated"
    if contact_id is None:
        created = await call("POST", CONTACTS, "HubSpot create contact", {"properties": props})
        if "__existing_id" not in created:
            return {"id": str(created.get("id")), "action": "created", "email": config.email,
                    "properties": sorted(props)}
        contact_id = created["__existing_id"]
    update = {k: v for k, v in props.items() if k != "email"}
    if update:
        await call("PATCH", f"{CONTACTS}/{contact_id}", "HubSpot update contact", {"properties": update})
    else:
        outcome = "unchanged"
    return {"id": contact_id, "action": outcome, "email": config.email, "properties": sorted(props)}
