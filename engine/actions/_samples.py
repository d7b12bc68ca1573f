"""Example outputs of the integration actions, for the builder's reference helper.

Before a workflow has run, the builder can only offer ``steps.<key>.output``; with these it can
offer ``steps.invoice.output.invoice_number`` and the rest right away. Each sample has exactly
the keys the action returns (the integration tests check that against real runs).
"""

from __future__ import annotations

from typing import Any

_CONTACT = {"contact_id": "b2f8c1e0-3b1d-4c6a-9a43-2f1e0c7d9a11", "name": "Nguyen Cafe",
            "email": "mia@nguyencafe.example", "first_name": "Mia", "last_name": "Nguyen", "status": "ACTIVE"}
_CUSTOMER = {"customer_id": "cus_QXk3bT9aZ1", "email": "mia@nguyencafe.example", "name": "Mia Nguyen",
             "phone": "+61412345678", "created": 1764547200, "metadata": {}, "livemode": False}
_ROW = {"Date": "2026-12-01", "Customer": "Mia Nguyen", "Email": "mia@nguyencafe.example", "Total": "147",
        "_row": 3}

SAMPLE_OUTPUTS: dict[str, dict[str, Any]] = {
    "xero.find_contact": {"found": True, **_CONTACT},
    "xero.upsert_contact": {**_CONTACT, "action": "created"},
    "xero.create_invoice": {"invoice_id": "ed255415-e141-4150-aab7-89c3bbbb851c", "invoice_number": "INV-0042",
                            "status": "AUTHORISED", "sub_total": 135.0, "total_tax": 12.0, "total": 147.0,
                            "amount_due": 147.0, "currency": "AUD", "emailed": True},
    "xero.record_payment": {"payment_id": "0d666415-cf77-43fa-80c7-56775591d426", "amount": 147.0,
                            "date": "2026-12-02", "invoice_id": "ed255415-e141-4150-aab7-89c3bbbb851c",
                            "status": "AUTHORISED"},
    "stripe.find_customer": {"found": True, **_CUSTOMER},
    "stripe.create_customer": dict(_CUSTOMER),
    "stripe.create_payment_link": {"payment_link_id": "plink_1MoC3ULkdIwHu7ix", "url":
                                   "https://buy.stripe.com/test_cN2bJ", "active": True, "currency": "aud",
                                   "livemode": False},
    "shopify.add_order_note": {"order_id": "gid://shopify/Order/450789469", "name": "#1001",
                               "note": "Invoice INV-0042 raised in Xero", "changed": True},
    "shopify.tag_customer": {"customer_id": "gid://shopify/Customer/207119551", "tags_added": ["wholesale"]},
    "mailchimp.upsert_member": {"member_id": "62eeb292278cc15f5817cb78f7790b08", "email": "mia@nguyencafe.example",
                                "status": "pending", "audience_id": "a1b2c3d4e5", "tags_added": ["bakery-order"],
                                "merge_fields": {"FNAME": "Mia"}},
    "sheets.append_row": {"row_number": 3, "updated_range": "'Orders'!A3:D3",
                          "values": {k: v for k, v in _ROW.items() if k != "_row"}},
    "sheets.find_rows": {"count": 1, "rows": [_ROW], "first": _ROW},
    "sheets.update_row": {"row_number": 3, "updated_range": "'Orders'!A3:D3", "row": _ROW},
}


def sample_output(action: str) -> dict[str, Any] | None:
    """The example output of ``action``, or None when it has none."""
    return SAMPLE_OUTPUTS.get(action)
