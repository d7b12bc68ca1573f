"""``stripe.find_customer``: the Stripe customer with an email address (``GET /v1/customers?email=``).

The list endpoint matches the address exactly and is immediately consistent, unlike the search
API whose index lags by up to a minute; the newest customer wins when there are several.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._stripe import customer_summary, stripe_call
from engine.context import ActionContext
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Stripe connection", examples=["stripe"], description="Name or id of a stripe "
                            "connection.")
    email: str = Field(title="Email", min_length=3, max_length=512, examples=["{{ trigger.body.email }}"])
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])


@action("stripe.find_customer", config=Config, title="Find Stripe customer",
        description="Look up a Stripe customer by email; 'found' is false when there is none.",
        category="payments", side_effect=False, connection_types=("stripe",))
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    data = await stripe_call(ctx, config.connection, "GET", "/v1/customers", what="Stripe find customer",
                             params={"email": config.email.strip(), "limit": 1}, timeout=config.timeout_s)
    items = data.get("data") or []
    return {"found": bool(items), **(customer_summary(items[0]) if items else {"customer_id": None})}
