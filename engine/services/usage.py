"""Usage counters (runs and steps per workspace per month), upserted atomically."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection as SAConnection
from sqlmodel import Session

from engine.db import utcnow
from engine.models import Usage, new_id

usage_table = Usage.__table__


def month_of(when: datetime | None = None) -> str:
    return (when or utcnow()).strftime("%Y-%m")


def add_usage(conn: SAConnection | Session, workspace_id: str, *, runs: int = 0, steps: int = 0) -> None:
    """Add to this month's counters with one INSERT .. ON CONFLICT DO UPDATE."""
    dialect = conn.bind.dialect.name if isinstance(conn, Session) else conn.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(usage_table).values(id=new_id(), workspace_id=workspace_id, month=month_of(), runs=runs, steps=steps)
    stmt = stmt.on_conflict_do_update(
        index_elements=["workspace_id", "month"],
        set_={"runs": usage_table.c.runs + runs, "steps": usage_table.c.steps + steps},
    )
    conn.execute(stmt)


def runs_this_month(session: Session, workspace_id: str) -> int:
    row = session.execute(
        select(func.coalesce(func.sum(usage_table.c.runs), 0)).where(
            usage_table.c.workspace_id == workspace_id, usage_table.c.month == month_of()
        )
    ).scalar_one()
    return int(row)


def usage_history(session: Session, workspace_id: str, months: int = 12) -> list[dict]:
    rows = session.execute(
        select(usage_table.c.month, usage_table.c.runs, usage_table.c.steps)
        .where(usage_table.c.workspace_id == workspace_id)
        .order_by(usage_table.c.month.desc())
        .limit(months)
    ).all()
    return [{"month": m, "runs": r, "steps": s} for m, r, s in rows]
