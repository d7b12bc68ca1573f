""""Test connection": one cheap, real, read-only call per connection type, through the guard.

What each type calls (nothing is sent to customers, nothing is created):

* smtp — connect, STARTTLS/SSL as configured, log in, NOOP, QUIT;
* twilio — ``GET /2010-04-01/Accounts/{sid}.json`` (the account itself);
* clicksend — ``GET /v3/account``;
* hubspot — ``GET /crm/v3/objects/contacts?limit=1``;
* slack — ``POST {}`` to the webhook: Slack answers 400 ``no_text`` for a live webhook (and
  posts nothing), 403/404 for a revoked one;
* http — ``GET base_url`` with the connection's auth, when a base_url is set.

The answer is ``{"ok": bool, "message": str, "type": str, "latency_ms": int}``. Messages never
contain secret values (the Slack URL, tokens, passwords): they are scrubbed before returning.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from engine.actions._provider import join_url, json_body, provider_message, reveal, scrub, send
from engine.actions._smtp import close_quietly, open_smtp, smtp_settings
from engine.config import Settings, get_settings
from engine.context import ConnectionData
from engine.errors import PermanentError, StepError
from engine.outbound import resolve_allowed

TIMEOUT_S = 10.0
SLACK_LIVE_ANSWERS = frozenset({"no_text", "invalid_payload", "missing_text_or_fallback_or_attachments"})
Check = Callable[[ConnectionData, Settings], Awaitable[str]]


class CheckFailed(PermanentError):
    """The provider answered, but the answer means the connection does not work."""


async def _smtp(conn: ConnectionData, settings: Settings) -> str:
    cfg = smtp_settings(conn)
    try:
        ips = await resolve_allowed(cfg.host, cfg.port, settings)
    except socket.gaierror as exc:
        raise CheckFailed(f"{cfg.host} does not resolve ({exc})") from None

    def probe() -> str:
        client = open_smtp(cfg, str(ips[0]), TIMEOUT_S)
        try:
            code, _ = client.noop()
        finally:
            close_quietly(client)
        return f"connected to {cfg.host}:{cfg.port} ({cfg.security})" + (", logged in" if cfg.username else "") + (
            "" if code == 250 else f", NOOP answered {code}")

    return await asyncio.to_thread(probe)


async def _http_get(settings: Settings, url: str, what: str, secrets: list[str], **kwargs: Any) -> Any:
    response = await send(settings, "GET", url, what=what, secrets=secrets, timeout=TIMEOUT_S, **kwargs)
    if response.status_code in (401, 403):
        raise CheckFailed(scrub(f"{what}: credentials refused (HTTP {response.status_code}): "
                                f"{provider_message(response)}", secrets))
    if not 200 <= response.status_code < 300:
        raise CheckFailed(scrub(f"{what}: HTTP {response.status_code}: {provider_message(response)}", secrets))
    return json_body(response)


async def _twilio(conn: ConnectionData, settings: Settings) -> str:
    from engine.actions.sms_send import TWILIO_BASE

    sid = str(conn.config.get("account_sid") or "")
    token = reveal(conn.secret.get("auth_token") or "")
    data = await _http_get(settings, join_url(conn.config.get("base_url") or TWILIO_BASE,
                                              f"/2010-04-01/Accounts/{sid}.json"),
                           "Twilio account", [token], auth=(sid, token))
    name = (data or {}).get("friendly_name") if isinstance(data, dict) else None
    status = (data or {}).get("status") if isinstance(data, dict) else None
    if status and status != "active":
        raise CheckFailed(f"Twilio account is {status}")
    return f"Twilio account {name or sid} is active"


async def _clicksend(conn: ConnectionData, settings: Settings) -> str:
    from engine.actions.sms_send import CLICKSEND_BASE

    username = str(conn.config.get("username") or "")
    api_key = reveal(conn.secret.get("api_key") or "")
    data = await _http_get(settings, join_url(conn.config.get("base_url") or CLICKSEND_BASE, "/v3/account"),
                           "ClickSend account", [api_key], auth=(username, api_key))
    balance = ((data or {}).get("data") or {}).get("balance") if isinstance(data, dict) else None
    return f"ClickSend account {username} works" + (f" (balance {balance})" if balance is not None else "")


async def _hubspot(conn: ConnectionData, settings: Settings) -> str:
    from engine.actions.crm_upsert_contact import CONTACTS, HUBSPOT_BASE

    token = reveal(conn.secret.get("access_token") or "")
    await _http_get(settings, join_url(conn.config.get("base_url") or HUBSPOT_BASE, CONTACTS), "HubSpot contacts",
                    [token], params={"limit": 1}, headers={"Authorization": f"Bearer {token}"})
    return "HubSpot accepted the access token (contacts readable)"


async def _slack(conn: ConnectionData, settings: Settings) -> str:
    url = reveal(conn.secret.get("webhook_url") or "")
    what = "Slack webhook"
    response = await send(settings, "POST", url, what=what, secrets=[url], timeout=TIMEOUT_S, json={})
    text = " ".join(response.text.split())[:100]
    if response.status_code == 400 and text in SLACK_LIVE_ANSWERS:
        return "Slack webhook is live (nothing was posted)"
    if response.status_code in (403, 404, 410):
        raise CheckFailed(f"{what} is not valid any more (HTTP {response.status_code}: {scrub(text, [url])})")
    raise CheckFailed(f"{what}: unexpected answer HTTP {response.status_code}: {scrub(text, [url])}")


async def _http(conn: ConnectionData, settings: Settings) -> str:
    from engine.actions.http_request import _auth_headers

    base_url = str(conn.config.get("base_url") or "")
    if not base_url:
        _auth_headers(conn)  # at least check the stored fields are complete
        return "credentials are complete; set a base_url to let FlowMate try them against your API"
    headers, secrets = _auth_headers(conn)
    response = await send(settings, "GET", base_url, what=f"GET {base_url}", secrets=secrets, timeout=TIMEOUT_S,
                          headers=headers)
    if response.status_code in (401, 403):
        raise CheckFailed(f"GET {base_url}: credentials refused (HTTP {response.status_code})")
    if response.status_code >= 500:
        raise CheckFailed(f"GET {base_url}: server error HTTP {response.status_code}")
    return f"GET {base_url} answered HTTP {response.status_code}"


CHECKS: dict[str, Check] = {
    "smtp": _smtp, "twilio": _twilio, "clicksend": _clicksend, "hubspot": _hubspot, "slack": _slack, "http": _http,
}


async def check_connection(conn: ConnectionData, settings: Settings | None = None) -> dict[str, Any]:
    """Run the check for ``conn``'s type; failures are reported in the answer, not raised."""
    settings = settings or get_settings()
    check = CHECKS.get(conn.type)
    started = time.perf_counter()
    secrets = [reveal(v) for v in conn.secret.values() if v]
    if check is None:
        return {"ok": False, "type": conn.type, "message": f"no test for connection type {conn.type!r}",
                "latency_ms": 0}
    try:
        message = await check(conn, settings)
        ok = True
    except StepError as exc:
        ok, message = False, str(exc)
    except Exception as exc:  # noqa: BLE001 - a test answers, it does not crash the page
        ok, message = False, f"{type(exc).__name__}: {exc}"
    return {"ok": ok, "type": conn.type, "message": scrub(message, secrets),
            "latency_ms": int((time.perf_counter() - started) * 1000)}


def run_check_sync(conn: ConnectionData, settings: Settings | None = None) -> dict[str, Any]:
    """:func:`check_connection` from synchronous code (CLI, services), even inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(check_connection(conn, settings))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, check_connection(conn, settings)).result()


def record_test(session: Any, actor: Any, connection_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """Audit a connection test (``connection.test``): stored credentials were decrypted and used.

    The row says whether it worked and the scrubbed message, never a secret value.
    """
    from engine.services import audit

    audit.record(session, actor, "connection.test", "connection", connection_id,
                 {"ok": bool(result.get("ok")), "type": result.get("type"),
                  "message": str(result.get("message") or "")[:300]})
    return result
# Checks of the integration connection types (Xero, Google Sheets, Stripe, Shopify, Mailchimp).
from engine.services.integration_checks import INTEGRATION_CHECKS  # noqa: E402

CHECKS.update(INTEGRATION_CHECKS)
