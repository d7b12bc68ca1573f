"""Google Sheets API v4 calls shared by the ``sheets.*`` actions: rows addressed by header names.

People think of a sheet as a table whose first row names the columns, so the actions take and
return ``{"Header": value}`` objects and translate to A1 ranges here. Tab names are quoted in A1
notation (``'Orders 2026'!A1``) and the whole range is URL-encoded as one path segment. Values
are written with ``USER_ENTERED`` so dates and numbers become what typing them would give.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from engine.actions._provider import json_body, raise_for_status
from engine.context import ActionContext, ConnectionData
from engine.errors import PermanentError

SHEETS_API = "https://sheets.googleapis.com"


def a1(tab: str, cells: str = "") -> str:
    quoted = "'" + tab.replace("'", "''") + "'"
    return f"{quoted}!{cells}" if cells else quoted


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    out, n = "", index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def sheets_connection(ctx: ActionContext, ref: str) -> tuple[ConnectionData, str]:
    conn = ctx.get_connection(ref)
    if conn.type != "google_sheets":
        raise PermanentError(f"connection {conn.name!r} has type {conn.type!r}, expected 'google_sheets'")
    return conn, str(conn.config.get("base_url") or SHEETS_API).rstrip("/")


async def values_call(ctx: ActionContext, conn: ConnectionData, base: str, method: str, spreadsheet_id: str,
                      rng: str, *, what: str, suffix: str = "", timeout: float = 30.0, **kwargs: Any) -> dict[str, Any]:
    url = f"{base}/v4/spreadsheets/{quote(spreadsheet_id, safe='')}/values/{quote(rng, safe='')}{suffix}"
    response = await ctx.oauth_api().oauth_request(ctx, conn, method, url, what=what, timeout=timeout, **kwargs)
    if response.status_code in (400, 404):
        data = json_body(response) or {}
        message = ((data.get("error") or {}).get("message")) or response.text[:200]
        raise PermanentError(f"{what}: Google Sheets answered: {message}", details={"status": response.status_code})
    if response.status_code == 403:
        raise PermanentError(f"{what}: Google refused access to this spreadsheet (share it with the connected "
                             "account, or reconnect with the Sheets scope)", details={"status": 403})
    raise_for_status(response, what=what, secrets=[])
    return json_body(response) or {}


async def header_row(ctx: ActionContext, conn: ConnectionData, base: str, spreadsheet_id: str, tab: str,
                     timeout: float) -> list[str]:
    data = await values_call(ctx, conn, base, "GET", spreadsheet_id, a1(tab, "1:1"), what="Google Sheets read "
                             "headers", timeout=timeout)
    headers = [str(h).strip() for h in ((data.get("values") or [[]])[0])]
    if not any(headers):
        raise PermanentError(f"tab {tab!r} has no header row: put column names in row 1")
    return headers


def column_index(headers: list[str], name: str) -> int:
    wanted = name.strip().lower()
    for i, header in enumerate(headers):
        if header.lower() == wanted:
            return i
    raise PermanentError(f"no column named {name!r}; the headers are: {', '.join(h for h in headers if h)}")


def row_values(headers: list[str], values: dict[str, Any], current: list[str] | None = None) -> list[Any]:
    """A full row in header order: given values placed by name, the rest kept from ``current``."""
    row: list[Any] = list(current or []) + [""] * max(0, len(headers) - len(current or []))
    for name, value in values.items():
        row[column_index(headers, name)] = "" if value is None else value
    return row[:len(headers)]


def as_record(headers: list[str], row: list[Any], number: int) -> dict[str, Any]:
    record: dict[str, Any] = {h: (row[i] if i < len(row) else "") for i, h in enumerate(headers) if h}
    record["_row"] = number
    return record
