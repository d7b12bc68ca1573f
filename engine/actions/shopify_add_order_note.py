"""``shopify.add_order_note``: add (or replace) the staff note of a Shopify order.

Reads the current note first (``order(id:)``) so "append" keeps what staff already wrote, then
writes it with the ``orderUpdate`` mutation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._shopify import gid, shopify_graphql, user_errors
from engine.context import ActionContext
from engine.errors import PermanentError
from engine.registry import action

ORDER_NOTE = "query OrderNote($id: ID!) { order(id: $id) { id name note } }"
ORDER_UPDATE = ("mutation OrderUpdate($input: OrderInput!) { orderUpdate(input: $input) "
                "{ order { id name note } userErrors { field message } } }")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Shopify connection", examples=["shopify"],
                            description="Name or id of a shopify connection.")
    order_id: str = Field(title="Order ID", min_length=1, max_length=100, examples=["{{ trigger.body.id }}"],
                          description="The numeric order id from the webhook, or its gid://shopify/Order/… id.")
    note: str = Field(title="Note", min_length=1, max_length=5000, examples=["Invoice {{ steps.invoice.output."
                                                                              "invoice_number }} raised in Xero"])
    mode: Literal["append", "replace"] = Field("append", title="Mode", examples=["append"],
                                               description="append keeps the existing note and adds a line.")
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])


@action("shopify.add_order_note", config=Config, title="Add Shopify order note",
        description="Add a line to (or replace) the note on a Shopify order.",
        category="commerce", side_effect=True, connection_types=("shopify",))
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    order_gid = gid("Order", config.order_id)
    note = config.note.strip()
    if config.mode == "append":
        found = await shopify_graphql(ctx, config.connection, ORDER_NOTE, {"id": order_gid},
                                      what="Shopify read order note", timeout=config.timeout_s)
        order = found.get("order")
        if order is None:
            raise PermanentError(f"Shopify order {config.order_id} was not found in this shop")
        existing = (order.get("note") or "").rstrip()
        if existing and note in existing.splitlines():
            return {"order_id": order_gid, "name": order.get("name"), "note": existing, "changed": False}
        note = f"{existing}\n{note}" if existing else note
    data = await shopify_graphql(ctx, config.connection, ORDER_UPDATE, {"input": {"id": order_gid, "note": note}},
                                 what="Shopify update order note", timeout=config.timeout_s)
    payload = data.get("orderUpdate")
    user_errors(payload, "Shopify update order note")
    order = (payload or {}).get("order") or {}
    return {"order_id": order.get("id", order_gid), "name": order.get("name"), "note": order.get("note"),
            "changed": True}
