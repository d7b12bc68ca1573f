"""``xero.record_payment``: mark money received against an approved invoice (``PUT /Payments``).

The account is the bank (or clearing) account the money went into, by its code; Xero refuses
payments on draft invoices and amounts above what is owing, with messages passed on as-is.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._xero import xero_call, xero_connection
from engine.context import ActionContext
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Xero connection", description="Name or id of a xero connection.",
                            examples=["xero"])
    invoice_id: str = Field(title="Invoice ID", min_length=1, max_length=64,
                            examples=["{{ steps.invoice.output.invoice_id }}"])
    account_code: str = Field(title="Bank account code", min_length=1, max_length=10, examples=["090"],
                              description="Code of the bank account in Xero's chart of accounts.")
    amount: Decimal = Field(gt=0, title="Amount", examples=["{{ trigger.body.amount }}"])
    date: dt.date | None = Field(None, title="Date", examples=["2026-12-01"], description="Defaults to today.")
    reference: str | None = Field(None, title="Reference", max_length=255, examples=["Stripe pi_123"])
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])


@action(
    "xero.record_payment",
    config=Config,
    title="Record Xero payment",
    description="Record a payment received against an approved Xero invoice.",
    category="accounting",
    side_effect=True,
    connection_types=("xero",),
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    conn, base, tenant = xero_connection(ctx, config.connection)
    payment: dict[str, Any] = {"Invoice": {"InvoiceID": config.invoice_id}, "Account": {"Code": config.account_code},
                               "Amount": float(config.amount), "Date": (config.date or dt.date.today()).isoformat()}
    if config.reference:
        payment["Reference"] = config.reference
    data = await xero_call(ctx, conn, base, tenant, "PUT", "/Payments", what="Xero record payment",
                           timeout=config.timeout_s, json={"Payments": [payment]},
                           idempotency_key=ctx.idempotency_key)
    out = (data.get("Payments") or [{}])[0]
    return {"payment_id": out.get("PaymentID"), "amount": out.get("Amount"), "date": out.get("Date"),
            "invoice_id": (out.get("Invoice") or {}).get("InvoiceID"), "status": out.get("Status")}
