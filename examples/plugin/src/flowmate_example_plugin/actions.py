"""``example.greeting``: write a greeting card, signed with the connection's sign-off.

A pure action (no outside call), so it is cheap and safe to retry; it still shows how an action
reads a connection of its own type: plain fields in ``conn.config``, secrets in ``conn.secret``
(decrypted in memory only for this step, and redacted from the step's output).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.context import ActionContext
from engine.errors import PermanentError
from engine.registry import action


class Config(BaseModel):
    """The builder's form for a greeting card (one field per input, titles and examples shown)."""

    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Greeting Studio connection", description="Name or id of a greeting_studio "
                            "connection.", examples=["studio"])
    name: str = Field(title="Who to greet", min_length=1, max_length=200, examples=["{{ trigger.payload.name }}"])
    greeting: str = Field("G'day", title="Greeting", max_length=50, examples=["G'day", "Hello"])
    shout: bool = Field(False, title="Shout", description="Write the card in capitals.")


@action(
    "example.greeting",
    config=Config,
    title="Greeting card",
    description="Write a greeting card for someone, signed with your studio's sign-off.",
    category="example",
    side_effect=False,
    connection_types=("greeting_studio",),
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    conn = ctx.get_connection(config.connection)
    if conn.type != "greeting_studio":
        raise PermanentError(f"connection {conn.name!r} has type {conn.type!r}, expected 'greeting_studio'")
    if not conn.secret.get("api_key"):
        raise PermanentError(f"connection {conn.name!r} has no api_key")
    card = f"{config.greeting}, {config.name}! — {conn.config.get('sign_off', '')}".strip(" —")
    return {"card": card.upper() if config.shout else card, "length": len(card)}
