"""Generic "HTTP poll": GET a JSON endpoint, find the item list in it, start one run per new item.

``items_path`` is a dotted path to the list in the answer (``data.items``; empty when the answer
is the list itself; a number picks a list element). ``id_field`` is the dotted path, inside each
item, of the value that identifies it (``id``). The request goes through the outbound guard, like
``http.request``; a connection (type http) may add its auth header.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import Field

from engine.actions.http_request import _auth_headers  # the same connection auth as http.request
from engine.context import ActionContext
from engine.errors import PermanentError, RetryableError
from engine.outbound import guarded_client
from engine.registry import trigger_type
from engine.triggers.polling_base import BASELINE_NOTE, PollingConfig, PollingTrigger

MAX_BYTES = 2 * 1024 * 1024


class HttpPollConfig(PollingConfig):
    url: str = Field(title="URL", min_length=1, max_length=2000, pattern=r"^https?://",
                     description="A JSON endpoint answering GET; private addresses are refused.")
    items_path: str = Field("", title="Item list path", max_length=200,
                            description="Dotted path to the list in the answer, e.g. data.items (empty: the "
                                        "answer is the list).")
    id_field: str = Field("id", title="Id field", min_length=1, max_length=200,
                          description="Dotted path inside each item of the value that identifies it.")
    connection: str = Field("", title="Connection (optional)", max_length=200,
                            description="An http connection whose auth header is sent with the request.")
    headers: dict[str, str] = Field(default_factory=dict, title="Headers", max_length=20)


def dig(value: Any, path: str) -> Any:
    """Follow a dotted path through dicts and lists; None when it leads nowhere."""
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


@trigger_type
class HttpPollTrigger(PollingTrigger):
    name = "http.poll"
    title = "HTTP poll"
    description = "Check a JSON API on a schedule and start a run for every new item. " + BASELINE_NOTE
    Config = HttpPollConfig
    sample_item = {"id": 1042, "email": "jo@example.com", "created_at": "2026-01-05T09:00:00Z"}

    async def fetch(self, ctx: ActionContext, config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        url = str(config["url"])
        headers = {"Accept": "application/json", **dict(config.get("headers") or {})}
        if config.get("connection"):
            conn = ctx.get_connection(config["connection"])
            headers.update(_auth_headers(conn)[0])
        try:
            async with guarded_client(ctx.settings, timeout=30.0, follow_redirects=True) as client:
                response = await client.get(url, headers=headers)
        except httpx.TimeoutException:
            raise RetryableError(f"GET {url} timed out") from None
        except httpx.TransportError as exc:
            raise RetryableError(f"GET {url} failed: {type(exc).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(f"GET {url} returned HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentError(f"GET {url} returned HTTP {response.status_code}")
        if len(response.content) > MAX_BYTES:
            raise PermanentError(f"GET {url}: the answer is larger than {MAX_BYTES} bytes")
        try:
            data = json.loads(response.content)
        except ValueError:
            raise PermanentError(f"GET {url} did not answer JSON") from None
        items = dig(data, str(config.get("items_path") or ""))
        if not isinstance(items, list):
            raise PermanentError(f"no list at {config.get('items_path') or '(the answer itself)'!r} in the answer")
        out: list[tuple[str, dict[str, Any]]] = []
        for item in items:
            key = dig(item, str(config.get("id_field") or "id"))
            if key is None or isinstance(key, dict | list):
                continue  # an item without an id cannot be deduplicated: skipped
            out.append((str(key), item if isinstance(item, dict) else {"value": item}))
        return out
