"""Xero "new invoice": polls the organisation's invoices and starts one run per invoice not seen before.

Asks for the most recently updated invoices first (``order=UpdatedDateUTC DESC``, one page of
100), optionally only sales (``ACCREC``) or bills (``ACCPAY``); an invoice is identified by its
``InvoiceID``. The call goes through the same Xero client as the actions, so rate limits
(429 + Retry-After) and token refresh behave the same.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from engine.actions._xero import xero_call, xero_connection
from engine.context import ActionContext
from engine.registry import trigger_type
from engine.triggers.polling_base import BASELINE_NOTE, PollingConfig, PollingTrigger


class XeroNewInvoiceConfig(PollingConfig):
    connection: str = Field(title="Xero connection", min_length=1, max_length=200)
    invoice_type: Literal["ACCREC", "ACCPAY", "ANY"] = Field(
        "ACCREC", title="Invoice type", description="ACCREC: sales invoices; ACCPAY: bills; ANY: both.")


@trigger_type
class XeroNewInvoiceTrigger(PollingTrigger):
    name = "xero.new_invoice"
    title = "Xero: new invoice"
    description = "Start a run for every new invoice in the connected Xero organisation. " + BASELINE_NOTE
    Config = XeroNewInvoiceConfig
    sample_item = {"InvoiceID": "5c2ab9a0-1f3b-4b0e-8d5e-2f0c7e0c9d11", "InvoiceNumber": "INV-0042", "Type": "ACCREC",
                   "Status": "AUTHORISED", "Contact": {"Name": "Nguyen Cafe"}, "Total": 165.0, "AmountDue": 165.0,
                   "CurrencyCode": "AUD", "DueDate": "2026-01-19"}

    async def fetch(self, ctx: ActionContext, config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        conn, base, tenant = xero_connection(ctx, config["connection"])
        params = {"order": "UpdatedDateUTC DESC", "page": "1"}
        if config.get("invoice_type", "ACCREC") != "ANY":
            params["where"] = f'Type=="{config.get("invoice_type", "ACCREC")}"'
        data = await xero_call(ctx, conn, base, tenant, "GET", "/Invoices", what="Xero list invoices", params=params)
        invoices = [i for i in data.get("Invoices") or [] if isinstance(i, dict) and i.get("InvoiceID")]
        return [(str(i["InvoiceID"]), i) for i in reversed(invoices)]  # oldest first
