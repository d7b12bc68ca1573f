"""``sheets.append_row``: add a row below the table, values given by column header."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._sheets import a1, header_row, row_values, sheets_connection, values_call
from engine.context import ActionContext
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Google Sheets connection", examples=["google"],
                            description="Name or id of a google_sheets connection.")
    spreadsheet_id: str = Field(title="Spreadsheet ID", min_length=10, max_length=200, pattern=r"^[A-Za-z0-9_-]+$",
                                examples=["1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"],
                                description="The long id in the sheet's URL, between /d/ and /edit.")
    sheet: str = Field("Sheet1", title="Tab", min_length=1, max_length=100, examples=["Orders"])
    values: dict[str, Any] = Field(title="Values by column", min_length=1, examples=[
        {"Date": "{{ run.started_at }}", "Customer": "{{ trigger.body.name }}", "Total": "{{ trigger.body.total }}"}])
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])


@action("sheets.append_row", config=Config, title="Add Google Sheets row",
        description="Append a row to a Google Sheet, filling columns by their header names.",
        category="spreadsheets", side_effect=True, connection_types=("google_sheets",))
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    conn, base = sheets_connection(ctx, config.connection)
    headers = await header_row(ctx, conn, base, config.spreadsheet_id, config.sheet, config.timeout_s)
    row = row_values(headers, config.values)
    data = await values_call(ctx, conn, base, "POST", config.spreadsheet_id, a1(config.sheet, "A1"),
                             what="Google Sheets append row", suffix=":append", timeout=config.timeout_s,
                             params={"valueInputOption": "USER_ENTERED", "insertDataOption": "INSERT_ROWS"},
                             json={"majorDimension": "ROWS", "values": [row]})
    updated = str((data.get("updates") or {}).get("updatedRange") or "")
    match = re.search(r"![A-Z]+(\d+)", updated)
    return {"row_number": int(match.group(1)) if match else None, "updated_range": updated,
            "values": dict(zip(headers, row, strict=False))}
