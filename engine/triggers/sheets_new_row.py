"""Google Sheets "new row": polls a tab and starts one run per row added since the last poll.

A row is identified by its row number, or by the value of an id column when one is named (then
re-sorting the sheet or deleting rows above does not make old rows look new). Rows come back
keyed by the header row's names, like ``sheets.find_rows`` returns them.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from engine.actions._sheets import a1, sheets_connection, values_call
from engine.context import ActionContext
from engine.errors import PermanentError
from engine.registry import trigger_type
from engine.triggers.polling_base import BASELINE_NOTE, PollingConfig, PollingTrigger


class SheetsNewRowConfig(PollingConfig):
    connection: str = Field(title="Google Sheets connection", min_length=1, max_length=200)
    spreadsheet_id: str = Field(title="Spreadsheet ID", min_length=1, max_length=200,
                                description="The long id in the sheet's URL, between /d/ and /edit.")
    sheet: str = Field("Sheet1", title="Tab", min_length=1, max_length=200)
    id_column: str = Field("", title="Id column (optional)", max_length=200,
                           description="A column whose value identifies a row; empty: the row number.")


@trigger_type
class SheetsNewRowTrigger(PollingTrigger):
    name = "sheets.new_row"
    title = "Google Sheets: new row"
    description = "Start a run for every row added to a Google Sheets tab. " + BASELINE_NOTE
    Config = SheetsNewRowConfig
    sample_item = {"Date": "2026-01-05", "Customer": "Jo Smith", "Email": "jo@example.com", "_row": 2}

    async def fetch(self, ctx: ActionContext, config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        conn, base = sheets_connection(ctx, config["connection"])
        data = await values_call(ctx, conn, base, "GET", config["spreadsheet_id"], a1(config.get("sheet") or "Sheet1"),
                                 what="Google Sheets read rows")
        rows = data.get("values") or []
        if not rows:
            return []
        headers = [str(h).strip() for h in rows[0]]
        id_column = str(config.get("id_column") or "").strip().lower()
        id_index = next((i for i, h in enumerate(headers) if h.lower() == id_column), None) if id_column else None
        if id_column and id_index is None:
            raise PermanentError(f"no column named {config['id_column']!r}; the headers are: {', '.join(headers)}")
        out: list[tuple[str, dict[str, Any]]] = []
        for number, row in enumerate(rows[1:], start=2):
            if not any(str(v).strip() for v in row):
                continue
            item: dict[str, Any] = {h: (row[i] if i < len(row) else "") for i, h in enumerate(headers) if h}
            item["_row"] = number
            key = str(row[id_index]).strip() if id_index is not None and id_index < len(row) else ""
            if id_index is not None and not key:
                continue  # a row still being typed: picked up once its id is filled in
            out.append((key or f"row:{number}", item))
        return out
