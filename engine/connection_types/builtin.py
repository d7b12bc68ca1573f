"""The connection types FlowMate ships with: HTTP auth, SMTP, Twilio, ClickSend, HubSpot, Slack.

``data_location`` says where the provider processes what is sent through it (Australian
Privacy Principle 8: the builder shows a cross-border notice for an AU workspace); for HTTP and
SMTP it is unknown, and the user states it in the connection's ``data_location`` field.

Each class only declares fields; the services (engine.services.connections) validate, encrypt
and check them. A plugin adds its own the same way, through the ``flowmate.connections`` entry
point group.
"""

from __future__ import annotations

from engine.registry import ConnectionType, connection_type


@connection_type
class HttpAuth(ConnectionType):
    name = "http"
    title = "HTTP auth"
    config_fields = ("auth_type", "username", "header_name", "base_url", "data_location")
    secret_fields = ("token", "password", "header_value", "signing_secret")
    required = ("auth_type",)


@connection_type
class SmtpServer(ConnectionType):
    name = "smtp"
    title = "SMTP server"
    config_fields = ("host", "port", "security", "username", "from_email", "from_name", "verify_tls",
                     "data_location")
    secret_fields = ("password",)
    required = ("host", "from_email")


@connection_type
class TwilioSms(ConnectionType):
    name = "twilio"
    title = "Twilio SMS"
    config_fields = ("account_sid", "from_number", "base_url")
    secret_fields = ("auth_token",)
    required = ("account_sid", "auth_token")
    data_location = "us"


@connection_type
class ClickSendSms(ConnectionType):
    name = "clicksend"
    title = "ClickSend SMS"
    config_fields = ("username", "from_number", "base_url")
    secret_fields = ("api_key",)
    required = ("username", "api_key")
    data_location = "au"


@connection_type
class HubSpotCrm(ConnectionType):
    name = "hubspot"
    title = "HubSpot CRM"
    config_fields = ("base_url",)
    secret_fields = ("access_token",)
    required = ("access_token",)
    data_location = "us"


@connection_type
class SlackWebhook(ConnectionType):
    name = "slack"
    title = "Slack incoming webhook"
    secret_fields = ("webhook_url",)
    required = ("webhook_url",)
    data_location = "us"
