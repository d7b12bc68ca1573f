"""``contacts.set_consent``: record that a person opted in (or out) of marketing email and/or SMS.

Used by lead-capture workflows when a form says the person ticked "send me offers": the contact
is created or updated (by normalised email / E.164 phone) and a consent event is stored with its
source (the workflow, unless given) and the exact wording the person agreed to. A retried step
does not record the event twice.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.context import ActionContext
from engine.errors import PermanentError, ValidationFailed
from engine.registry import action


class Config(BaseModel):
    """The builder's form for recording consent."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, title="Email", description="The person's email address.",
                              examples=["{{ trigger.body.email }}"], max_length=320)
    phone: str | None = Field(None, title="Phone", description="The person's mobile number (local numbers use "
                              "the default region).", examples=["{{ trigger.body.phone }}"], max_length=64)
    name: str | None = Field(None, title="Name", examples=["{{ trigger.body.name }}"], max_length=200)
    channels: list[Literal["email", "sms"]] = Field(["email"], title="Channels", min_length=1,
                                                   description="Which channels the consent covers.",
                                                   examples=[["email"], ["email", "sms"]])
    status: Literal["granted", "withdrawn"] = Field("granted", title="Consent",
                                                    description="granted: opted in; withdrawn: opted out.")
    wording: str = Field(title="Wording shown", min_length=1, max_length=2000,
                         description="The exact words the person agreed to (kept as evidence).",
                         examples=["Yes, send me news and offers by email. I can unsubscribe at any time."])
    source: str | None = Field(None, title="Source", max_length=200,
                               description="Where the consent was given (default: this workflow).",
                               examples=["website enquiry form"])
    default_region: str = Field("AU", title="Default region", min_length=2, max_length=2, examples=["AU"])

    @model_validator(mode="after")
    def _check(self) -> Config:
        if not (self.email or "").strip() and not (self.phone or "").strip():
            raise ValueError("give an email or a phone number")
        return self


@action(
    "contacts.set_consent",
    config=Config,
    title="Record consent",
    description="Record that a person opted in (or out) of marketing email or SMS, with the wording they saw.",
    category="contacts",
    side_effect=True,
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    import asyncio

    email = (config.email or "").strip() or None
    phone = (config.phone or "").strip() or None
    channels = [c for c in config.channels if (c == "email" and email) or (c == "sms" and phone)]
    if not channels:
        raise PermanentError("no address for the chosen channels (email consent needs an email, SMS a phone)")
    try:
        return await asyncio.to_thread(
            ctx.consent().record_consent_from_step, ctx.workspace_id, f"step:{ctx.idempotency_key}",
            email=email, phone=phone,
            name=config.name or "", channels=channels, status=config.status,
            source=config.source or f"workflow {ctx.workflow_id}", wording=config.wording,
            region=config.default_region)
    except ValidationFailed as exc:
        raise PermanentError("; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or exc.message) from None
