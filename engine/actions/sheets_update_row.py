"""``sheets.update_row``: change some columns of one row (by number); other cells stay as they are."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.actions._sheets import (
    a1,
    as_record,
    column_letter,
    header_row,
    row_values,
    sheets_connection,
    values_call,
)
from engine.context import ActionContext
from engine.registry import action


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(title="Google Sheets connection", examples=["google"],
                            description="Name or id of a google_sheets connection.")
    spreadsheet_id: str = Field(title="Spreadsheet ID", min_length=10, max_length=200, pattern=r"^[A-Za-z0-9_-]+$",
                                examples=["1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"])
    sheet: str = Field("Sheet1", title="Tab", min_length=1, max_length=100, examples=["Orders"])
    row_number: int = Field(ge=2, le=10_000_000, title="Row number", examples=["{{ steps.find.output.first._row }}"],
                            description="As shown at the left of the sheet (row 1 holds the headers).")
    values: dict[str, Any] = Field(title="New values by column", min_length=1, examples=[{"Status": "Paid"}])
    timeout_s: float = Field(30.0, gt=0, le=120, title="Timeout (seconds)", examples=[30])


@action("sheets.update_row", config=Config, title="Update Google Sheets row",
        description="Update some columns of a Google Sheets row; the other cells keep their values.",
        category="spreadsheets", side_effect=True, connection_types=("google_sheets",))
async def run(ctx: ActionContext, config: Config) -> dict[str, Any]:
    conn, base = sheets_connection(ctx, config.connection)
    headers = await header_row(ctx, conn, base, config.spreadsheet_id, config.sheet, config.timeout_s)
    n = config.row_number
    span = f"A{n}:{column_letter(len(headers) - 1)}{n}"
    current = await values_call(ctx, conn, base, "GET", config.spreadsheet_id, a1(config.sheet, span),
                                what="Google Sheets read row", timeout=config.timeout_s)
    existing = [str(v) for v in ((current.get("values") or [[]])[0])]
    row = row_values(headers, config.values, existing)
    await values_call(ctx, conn, base, "PUT", config.spreadsheet_id, a1(config.sheet, span),
                      what="Google Sheets update row", timeout=config.timeout_s,
                      params={"valueInputOption": "USER_ENTERED"},
                      json={"range": a1(config.sheet, span), "majorDimension": "ROWS", "values": [row]})
    return {"row_number": n, "updated_range": a1(config.sheet, span), "row": as_record(headers, row, n)}
