"""``slack.post_message``: post to a Slack channel through an incoming-webhook URL.

The webhook URL *is* the credential (anyone holding it can post), so it lives in the slack
connection's secret and never appears in step config, run data or error messages. Slack answers
plain text: ``ok`` on success, or a short error code (``invalid_payload``, ``no_service``,
``channel_is_archived``...) that we pass on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._provider import raise_for_status, reveal, send
from engine.context import ActionContext
from engine.errors import PermanentError
from engine.registry import action

MAX_TEXT = 40_000


class Config(BaseModel):
    """The builder's form for a Slack message."""

    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Slack connection", description="Name or id of a slack (incoming webhook) "
                            "connection.", examples=["slack"])
    text: str = Field(title="Message", description="Message text (Slack mrkdwn); also the notification fallback "
                      "when blocks are used.", min_length=1, max_length=MAX_TEXT,
                      examples=[":tada: New lead: *{{ trigger.body.name }}* ({{ trigger.body.email }})"])
    blocks: list[dict[str, Any]] | None = Field(
        None, title="Blocks", description="Optional Block Kit blocks for a richer layout.",
        examples=[[{"type": "section", "text": {"type": "mrkdwn", "text": "*New lead*"}}]], max_length=50,
    )
    timeout_s: float = Field(15.0, gt=0, le=60, title="Timeout (seconds)", examples=[15],
                             description="Give up (and retry per the step's retry policy) after this many seconds.")


@action(
    "slack.post_message",
    config=Config,
    title="Post Slack message",
    description="Post a message to a Slack channel (incoming webhook).",
    category="slack",
    side_effect=True,
    connection_types=("slack",),
)
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    conn = ctx.get_connection(config.connection)
    if conn.type != "slack":
        raise PermanentError(f"connection {conn.name!r} has type {conn.type!r}, expected 'slack'")
    url = reveal(conn.secret.get("webhook_url") or "")
    if not url:
        raise PermanentError(f"connection {conn.name!r} has no webhook_url")
    payload: dict[str, Any] = {"text": config.text}
    if config.blocks:
        payload["blocks"] = config.blocks
    what = f"Slack webhook ({conn.name})"
    response = await send(ctx.settings, "POST", url, what=what, secrets=[url], timeout=config.timeout_s,
                          json=payload, headers={"Idempotency-Key": ctx.idempotency_key})
    raise_for_status(response, what=what, secrets=[url])
    return {"ok": True, "response": " ".join(response.text.split())[:100], "text": config.text}
