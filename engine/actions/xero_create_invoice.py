"""``xero.create_invoice``: a sales invoice (or bill) with GST line items, optionally emailed.

``PUT /Invoices`` creates (``POST`` would also update), with our step's idempotency key in
``Idempotency-Key`` so a retried step cannot raise the invoice twice. Australian GST is chosen per
line by tax type: ``OUTPUT`` (GST on income, 10 %), ``EXEMPTOUTPUT`` (GST-free income),
``BASEXCLUDED`` and the others of the organisation's tax rates. Emailing
(``POST /Invoices/{id}/Email``) needs an AUTHORISED invoice and a contact email address.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.actions._xero import xero_call, xero_connection
from engine.context import ActionContext
from engine.registry import action


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(title="Description", min_length=1, max_length=4000, examples=["Sourdough loaves"])
    quantity: Decimal = Field(Decimal(1), gt=0, title="Quantity", examples=[2])
    unit_amount: Decimal = Field(title="Unit price", examples=[8.5],
                                 description="Excluding GST when amounts are 'Exclusive' (the default).")
    account_code: str = Field("200", title="Account code", min_length=1, max_length=10, examples=["200"],
                              description="Revenue account in the chart of accounts (200 = Sales in a new AU org).")
    tax_type: str = Field("OUTPUT", title="Tax type", pattern=r"^[A-Z0-9]{2,30}$", examples=["OUTPUT", "EXEMPTOUTPUT"],
                          description="OUTPUT = GST on income (10 %), EXEMPTOUTPUT = GST-free income, "
                                      "BASEXCLUDED = not reported on the BAS.")
    item_code: str | None = Field(None, title="Item code", max_length=30, examples=["SOURDOUGH"])

    def xero(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Description": self.description, "Quantity": float(self.quantity),
                               "UnitAmount": float(self.unit_amount), "AccountCode": self.account_code,
                               "TaxType": self.tax_type}
        if self.item_code:
            out["ItemCode"] = self.item_code
        return out


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Xero connection", description="Name or id of a xero connection.",
                            examples=["xero"])
    contact_id: str = Field(title="Contact ID", min_length=1, max_length=64,
                            examples=["{{ steps.contact.output.contact_id }}"],
                            description="From a 'Create or update Xero contact' step.")
    line_items: list[LineItem] = Field(title="Line items", min_length=1, max_length=100, examples=[[
        {"description": "Catering platter", "quantity": 1, "unit_amount": 120, "account_code": "200",
         "tax_type": "OUTPUT"},
        {"description": "Delivery (GST-free)", "quantity": 1, "unit_amount": 15, "account_code": "200",
         "tax_type": "EXEMPTOUTPUT"}]])
    type: Literal["ACCREC", "ACCPAY"] = Field("ACCREC", title="Type", examples=["ACCREC"],
                                              description="ACCREC = sales invoice, ACCPAY = bill.")
    date: dt.date | None = Field(None, title="Date", examples=["2026-12-01"], description="Defaults to today in Xero.")
    due_date: dt.date | None = Field(None, title="Due date", examples=["2026-12-15"])
    reference: str | None = Field(None, title="Reference", max_length=255, examples=["{{ trigger.body.order_id }}"])
    status: Literal["DRAFT", "SUBMITTED", "AUTHORISED"] = Field("DRAFT", title="Status", examples=["AUTHORISED"],
                                                                description="Only AUTHORISED invoices can be "
                                                                            "emailed or paid.")
    line_amount_types: Literal["Exclusive", "Inclusive", "NoTax"] = Field(
        "Exclusive", title="Amounts are", examples=["Exclusive"], description="Whether unit prices include GST.")
    currency_code: str = Field("AUD", title="Currency", pattern=r"^[A-Z]{3}$", examples=["AUD"])
    email_to_customer: bool = Field(False, title="Email it to the customer", examples=[False],
                                    description="Xero sends the invoice to the contact's email address.")
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.email_to_customer and self.status != "AUTHORISED":
            raise ValueError("email_to_customer needs status AUTHORISED (Xero only emails approved invoices)")
        if self.date and self.due_date and self.due_date < self.date:
            raise ValueError("due_date is before date")
        return self

    def xero_invoice(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Type": self.type, "Contact": {"ContactID": self.contact_id},
                               "LineItems": [li.xero() for li in self.line_items], "Status": self.status,
                               "LineAmountTypes": self.line_amount_types, "CurrencyCode": self.currency_code}
        if self.date:
            out["Date"] = self.date.isoformat()
        if self.due_date:
            out["DueDate"] = self.due_date.isoformat()
        if self.reference:
            out["Reference"] = self.reference
        return out


@action(
    "xero.create_invoice",
    config=Config,
    title="Create Xero invoice",
    description="Raise a Xero invoice with GST line items (draft or approved), and optionally email it.",
    category="accounting",
    side_effect=True,
    connection_types=("xero",),
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    conn, base, tenant = xero_connection(ctx, config.connection)
    data = await xero_call(ctx, conn, base, tenant, "PUT", "/Invoices", what="Xero create invoice",
                           timeout=config.timeout_s, json={"Invoices": [config.xero_invoice()]},
                           idempotency_key=ctx.idempotency_key)
    invoice = (data.get("Invoices") or [{}])[0]
    emailed = False
    if config.email_to_customer and invoice.get("InvoiceID"):
        await xero_call(ctx, conn, base, tenant, "POST", f"/Invoices/{invoice['InvoiceID']}/Email",
                        what="Xero email invoice", timeout=config.timeout_s, json={},
                        idempotency_key=ctx.idempotency_key + ":email")
        emailed = True
    return {"invoice_id": invoice.get("InvoiceID"), "invoice_number": invoice.get("InvoiceNumber"),
            "status": invoice.get("Status"), "sub_total": invoice.get("SubTotal"),
            "total_tax": invoice.get("TotalTax"), "total": invoice.get("Total"),
            "amount_due": invoice.get("AmountDue"), "currency": invoice.get("CurrencyCode"), "emailed": emailed}
