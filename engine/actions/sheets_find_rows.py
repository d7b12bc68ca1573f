"""``sheets.find_rows``: rows whose value in one column matches, as ``{"Header": value}`` records."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._sheets import a1, as_record, column_index, sheets_connection, values_call
from engine.context import ActionContext
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Google Sheets connection", examples=["google"],
                            description="Name or id of a google_sheets connection.")
    spreadsheet_id: str = Field(title="Spreadsheet ID", min_length=10, max_length=200, pattern=r"^[A-Za-z0-9_-]+$",
                                examples=["1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"])
    sheet: str = Field("Sheet1", title="Tab", min_length=1, max_length=100, examples=["Orders"])
    column: str = Field(title="Column", min_length=1, max_length=200, examples=["Email"])
    value: str = Field(title="Equals", max_length=1000, examples=["{{ trigger.body.email }}"],
                       description="Matched ignoring case and surrounding spaces.")
    limit: int = Field(20, ge=1, le=500, title="At most", examples=[20])
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])


@action("sheets.find_rows", config=Config, title="Find Google Sheets rows",
        description="Find the rows of a Google Sheet whose column equals a value.",
        category="spreadsheets", side_effect=False, connection_types=("google_sheets",))
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    conn, base = sheets_connection(ctx, config.connection)
    data = await values_call(ctx, conn, base, "GET", config.spreadsheet_id, a1(config.sheet),
                             what="Google Sheets read rows", timeout=config.timeout_s)
    values = data.get("values") or []
    headers = [str(h).strip() for h in (values[0] if values else [])]
    index = column_index(headers, config.column)
    wanted = config.value.strip().lower()
    rows = []
    for number, row in enumerate(values[1:], start=2):
        cell = str(row[index]).strip().lower() if index < len(row) else ""
        if cell == wanted:
            rows.append(as_record(headers, row, number))
            if len(rows) >= config.limit:
                break
    return {"count": len(rows), "rows": rows, "first": rows[0] if rows else None}
