"""``stripe.create_payment_link``: a shareable checkout link (``POST /v1/payment_links``).

Either an existing Price (``price_id``) or an amount and a product name, sent as ``price_data``
so Stripe creates the one-off price inline. Amounts are in dollars here and sent in cents, the
way Stripe counts them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.actions._stripe import stripe_call
from engine.context import ActionContext
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Stripe connection", examples=["stripe"], description="Name or id of a stripe "
                            "connection.")
    price_id: str | None = Field(None, title="Price ID", max_length=255, examples=["price_1QabcXYZ"],
                                 description="An existing Stripe Price; or leave empty and give amount + product.")
    amount: Decimal | None = Field(None, gt=0, title="Amount", examples=["{{ trigger.body.total }}"],
                                   description="In dollars (e.g. 49.95), including GST if you charge it.")
    currency: str = Field("aud", title="Currency", pattern=r"^[a-zA-Z]{3}$", examples=["aud"])
    product_name: str | None = Field(None, title="Product name", max_length=250, examples=["Birthday cake deposit"])
    quantity: int = Field(1, ge=1, le=999, title="Quantity", examples=[1])
    metadata: dict[str, str] = Field(default_factory=dict, title="Metadata", max_length=50,
                                     examples=[{"order": "{{ trigger.body.order_id }}"}])
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])

    @model_validator(mode="after")
    def _price(self) -> Config:
        if not self.price_id and (self.amount is None or not self.product_name):
            raise ValueError("set price_id, or amount and product_name")
        return self

    def line_item(self) -> dict[str, Any]:
        if self.price_id:
            return {"price": self.price_id, "quantity": self.quantity}
        cents = int((self.amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))  # type: ignore[operator]
        return {"price_data": {"currency": self.currency.lower(), "unit_amount": cents,
                               "product_data": {"name": self.product_name}}, "quantity": self.quantity}


@action("stripe.create_payment_link", config=Config, title="Create Stripe payment link",
        description="Create a Stripe payment link for a price or an amount; use its URL in an email or SMS.",
        category="payments", side_effect=True, connection_types=("stripe",))
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    link = await stripe_call(ctx, config.connection, "POST", "/v1/payment_links", what="Stripe create payment link",
                             params={"line_items": [config.line_item()], "metadata": config.metadata or None},
                             idempotency_key=ctx.idempotency_key, timeout=config.timeout_s)
    return {"payment_link_id": link.get("id"), "url": link.get("url"), "active": link.get("active"),
            "currency": link.get("currency"), "livemode": link.get("livemode")}
