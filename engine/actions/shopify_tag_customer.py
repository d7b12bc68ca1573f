"""``shopify.tag_customer``: add tags to a Shopify customer (``tagsAdd``), found by id or email.

``tagsAdd`` only adds: tags the customer already has stay, and adding one twice is harmless, so
a retried step changes nothing more.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.actions._shopify import gid, shopify_graphql, user_errors
from engine.context import ActionContext
from engine.errors import PermanentError
from engine.registry import action

BY_EMAIL = ("query CustomerByEmail($query: String!) { customers(first: 1, query: $query) "
            "{ edges { node { id email tags } } } }")
TAGS_ADD = ("mutation TagsAdd($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) "
            "{ node { id } userErrors { field message } } }")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Shopify connection", examples=["shopify"],
                            description="Name or id of a shopify connection.")
    customer_id: str | None = Field(None, title="Customer ID", max_length=100,
                                    examples=["{{ trigger.body.customer.id }}"])
    email: str | None = Field(None, title="Or customer email", max_length=320, examples=["{{ trigger.body.email }}"])
    tags: list[str] = Field(title="Tags", min_length=1, max_length=50, examples=[["wholesale", "vip"]])
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        cleaned = [t.strip() for t in value if t and t.strip()]
        if not cleaned:
            raise ValueError("give at least one tag")
        if any("," in t or len(t) > 255 for t in cleaned):
            raise ValueError("a tag cannot contain a comma or be longer than 255 characters")
        return list(dict.fromkeys(cleaned))

    @model_validator(mode="after")
    def _who(self) -> Config:
        if not (self.customer_id or "").strip() and not (self.email or "").strip():
            raise ValueError("set customer_id or email")
        return self


@action("shopify.tag_customer", config=Config, title="Tag Shopify customer",
        description="Add tags to a Shopify customer found by id or email.",
        category="commerce", side_effect=True, connection_types=("shopify",))
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    if (config.customer_id or "").strip():
        customer_gid = gid("Customer", config.customer_id or "")
    else:
        email = (config.email or "").strip().replace('"', "")
        found = await shopify_graphql(ctx, config.connection, BY_EMAIL, {"query": f'email:"{email}"'},
                                      what="Shopify find customer", timeout=config.timeout_s)
        edges = ((found.get("customers") or {}).get("edges")) or []
        if not edges:
            raise PermanentError(f"no Shopify customer has the email {email!r}")
        customer_gid = edges[0]["node"]["id"]
    data = await shopify_graphql(ctx, config.connection, TAGS_ADD, {"id": customer_gid, "tags": config.tags},
                                 what="Shopify tag customer", timeout=config.timeout_s)
    user_errors(data.get("tagsAdd"), "Shopify tag customer")
    return {"customer_id": customer_gid, "tags_added": config.tags}
