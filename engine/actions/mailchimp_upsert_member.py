"""``mailchimp.upsert_member``: add or update an audience member, with tags and merge fields.

The API key ends in the account's datacenter (``…-us21``), which is also the API host
(``https://us21.api.mailchimp.com/3.0``). Members are addressed by the MD5 of the lower-cased
email, and ``PUT /lists/{list}/members/{hash}`` creates or updates in one idempotent call.

Consent: new people get ``status_if_new`` — ``pending`` by default, so Mailchimp emails them a
confirmation and only subscribes them when they click it (double opt-in, what Australia's Spam
Act asks for when consent is not already recorded). ``subscribed`` is only sent when the
workflow says the person consented AND FlowMate's consent records agree (``ctx.consent()``, the
same check ``email.send`` makes for marketing): granted email consent and not on the suppression
list. Otherwise the step fails with the reason and nothing is sent to Mailchimp. An existing
member's status is never changed: someone who unsubscribed or was cleaned stays that way; their
merge fields and tags are still updated.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.actions._provider import join_url, json_body, raise_for_status, reveal, send
from engine.context import ActionContext
from engine.errors import PermanentError
from engine.registry import action

_DC = re.compile(r"-([a-z]{2,5}\d{1,3})$")
_MERGE = re.compile(r"^[A-Z0-9_]{1,10}$")


def api_base(api_key: str) -> str:
    match = _DC.search(api_key.strip())
    if not match:
        raise PermanentError("the Mailchimp API key does not end in a datacenter such as '-us21'")
    return f"https://{match.group(1)}.api.mailchimp.com"


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()  # noqa: S324 (Mailchimp's member id)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Mailchimp connection", examples=["mailchimp"],
                            description="Name or id of a mailchimp connection.")
    audience_id: str = Field(title="Audience ID", min_length=1, max_length=50, pattern=r"^[A-Za-z0-9]+$",
                             examples=["a1b2c3d4e5"], description="Audience → Settings → Audience name and defaults.")
    email: str = Field(title="Email", max_length=320, examples=["{{ trigger.body.email }}"])
    consent: bool = Field(False, title="Person consented to marketing", examples=["{{ trigger.body.opt_in }}"],
                          description="Only then is a new person subscribed at once, and only when their email "
                                      "consent is recorded in FlowMate (Contacts page or a Record consent step) "
                                      "and they are not suppressed; otherwise the step fails. Off: they get a "
                                      "confirmation email first (double opt-in).")
    status_if_new: Literal["pending", "transactional"] = Field(
        "pending", title="Without consent, new people are", examples=["pending"],
        description="pending = sent a confirmation email; transactional = stored, never sent marketing.")
    merge_fields: dict[str, Any] = Field(default_factory=dict, title="Merge fields", examples=[
        {"FNAME": "{{ trigger.body.first_name }}", "LNAME": "{{ trigger.body.last_name }}"}])
    tags: list[str] = Field(default_factory=list, title="Tags", max_length=50, examples=[["bakery-order"]])
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"{value!r} is not a valid email address: {exc}") from None

    @field_validator("merge_fields")
    @classmethod
    def _merge(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in value if not _MERGE.match(k)]
        if bad:
            raise ValueError(f"merge tags are upper-case, at most 10 characters (FNAME, PHONE…): {', '.join(bad)}")
        return {k: v for k, v in value.items() if v not in (None, "")}


@action("mailchimp.upsert_member", config=Config, title="Add or update Mailchimp member",
        description="Add a person to a Mailchimp audience (respecting consent) or update them, with tags.",
        category="marketing", side_effect=True, connection_types=("mailchimp",))
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    conn = ctx.get_connection(config.connection)
    if conn.type != "mailchimp":
        raise PermanentError(f"connection {conn.name!r} has type {conn.type!r}, expected 'mailchimp'")
    key = reveal(conn.secret.get("api_key") or "")
    if not key:
        raise PermanentError(f"connection {conn.name!r} has no api_key")
    if config.consent:  # subscribing at once: FlowMate's consent records must agree
        refusal = ctx.consent().marketing_refusal(ctx.workspace_id, "email", config.email.lower())
        if refusal:
            raise PermanentError(
                f"Mailchimp: {config.email} was not subscribed: {refusal}. Record their consent first (a Record "
                "consent step or the Contacts page), or turn off 'Person consented' so Mailchimp asks them to "
                "confirm (double opt-in).")
    base = str(conn.config.get("base_url") or api_base(key)).rstrip("/")
    member = f"/3.0/lists/{config.audience_id}/members/{subscriber_hash(config.email)}"
    auth = ("flowmate", key)
    body: dict[str, Any] = {"email_address": config.email,
                            "status_if_new": "subscribed" if config.consent else config.status_if_new}
    if config.merge_fields:
        body["merge_fields"] = config.merge_fields
    response = await send(ctx.settings, "PUT", join_url(base, member), what="Mailchimp upsert member",
                          secrets=[key], timeout=config.timeout_s, auth=auth, json=body)
    raise_for_status(response, what="Mailchimp upsert member", secrets=[key])
    data = json_body(response) or {}
    if config.tags:
        tags = {"tags": [{"name": t, "status": "active"} for t in config.tags]}
        tagged = await send(ctx.settings, "POST", join_url(base, member + "/tags"), what="Mailchimp tag member",
                            secrets=[key], timeout=config.timeout_s, auth=auth, json=tags)
        raise_for_status(tagged, what="Mailchimp tag member", secrets=[key])
    return {"member_id": data.get("id"), "email": data.get("email_address"), "status": data.get("status"),
            "audience_id": data.get("list_id") or config.audience_id, "tags_added": config.tags,
            "merge_fields": data.get("merge_fields") or {}}
