"""The ``greeting_studio`` connection type: a sign-off (plain config) and an API key (secret)."""

from __future__ import annotations

from engine.registry import ConnectionType, connection_type


@connection_type
class GreetingStudio(ConnectionType):
    name = "greeting_studio"
    title = "Greeting Studio"
    config_fields = ("sign_off",)
    secret_fields = ("api_key",)
    required = ("sign_off", "api_key")
    data_location = "au"
