"""``stripe.create_customer``: a new Stripe customer (``POST /v1/customers``), idempotent per step."""

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
    name: str | None = Field(None, title="Name", max_length=256, examples=["{{ trigger.body.name }}"])
    phone: str | None = Field(None, title="Phone", max_length=20, examples=["+61412345678"])
    description: str | None = Field(None, title="Description", max_length=350, examples=["Wholesale customer"])
    metadata: dict[str, str] = Field(default_factory=dict, title="Metadata", max_length=50,
                                     examples=[{"flowmate_run": "{{ run.id }}"}],
                                     description="Up to 50 key/value pairs stored on the customer.")
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])


@action("stripe.create_customer", config=Config, title="Create Stripe customer",
        description="Create a customer in Stripe (a retried step never creates a second one).",
        category="payments", side_effect=True, connection_types=("stripe",))
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    params: dict[str, Any] = {"email": config.email.strip(), "name": config.name or None,
                              "phone": config.phone or None, "description": config.description or None,
                              "metadata": config.metadata or None}
    customer = await stripe_call(ctx, config.connection, "POST", "/v1/customers", what="Stripe create customer",
                                 params=params, idempotency_key=ctx.idempotency_key, timeout=config.timeout_s)
    return customer_summary(customer)
