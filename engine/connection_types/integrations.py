"""Connection types of the SaaS integrations: Xero, Google Sheets, Stripe, Shopify, Mailchimp.

OAuth types (xero, google_sheets) get their tokens from the Connect flow (engine.oauth), never
from a pasted form; the others take an API key or access token. ``data_location`` is where the
provider processes data (all of these in the US today; Xero hosts in the US as well).
"""

from __future__ import annotations

from engine.registry import ConnectionType, connection_type


@connection_type
class XeroAccounting(ConnectionType):
    name = "xero"
    title = "Xero"
    config_fields = ("tenant_id", "tenant_name", "base_url")
    secret_fields = ("access_token", "refresh_token")
    data_location = "us"


@connection_type
class GoogleSheets(ConnectionType):
    name = "google_sheets"
    title = "Google Sheets"
    config_fields = ("base_url",)
    secret_fields = ("access_token", "refresh_token")
    data_location = "us"


@connection_type
class StripeApi(ConnectionType):
    name = "stripe"
    title = "Stripe"
    config_fields = ("base_url",)
    secret_fields = ("api_key", "webhook_secret")
    required = ("api_key",)
    data_location = "us"


@connection_type
class ShopifyAdmin(ConnectionType):
    name = "shopify"
    title = "Shopify"
    config_fields = ("shop_domain", "api_version", "base_url")
    secret_fields = ("access_token", "webhook_secret")
    required = ("shop_domain", "access_token")
    data_location = "us"


@connection_type
class MailchimpMarketing(ConnectionType):
    name = "mailchimp"
    title = "Mailchimp"
    config_fields = ("base_url",)
    secret_fields = ("api_key",)
    required = ("api_key",)
    data_location = "us"
