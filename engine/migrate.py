"""Apply Alembic migrations programmatically (`flowmate db upgrade`, tests, app start).

Besides the schema, an upgrade:

- refuses a database recorded for another data region than FLOWMATE_DATA_REGION, and records the
  configured region on the first migration (engine.services.residency);
- on SQLite, turns on incremental auto-vacuum, so the file shrinks after retention deletes runs
  (applied with one VACUUM: instant on a new file, a one-off rebuild of an existing one).
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy import text

from alembic import command
from engine.config import get_settings

ROOT = Path(__file__).resolve().parent.parent
SQLITE_INCREMENTAL = 2  # PRAGMA auto_vacuum value


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["database_url"] = url or get_settings().database_url
    cfg.attributes["configure_logger"] = False
    return cfg


def _sqlite_incremental_vacuum(url: str) -> None:
    """Switch a SQLite file to auto_vacuum=INCREMENTAL (must happen outside any transaction)."""
    from engine.db import get_engine

    with get_engine(url).connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if conn.execute(text("PRAGMA auto_vacuum")).scalar() == SQLITE_INCREMENTAL:
            return
        conn.execute(text(f"PRAGMA auto_vacuum = {SQLITE_INCREMENTAL}"))
        conn.execute(text("VACUUM"))  # applies the mode (instant on a new file); later shrinking is incremental


def upgrade(url: str | None = None) -> str:
    """Upgrade the database to the newest revision; returns the URL without any password."""
    from sqlalchemy.engine import make_url

    from engine.db import get_engine
    from engine.region import check_region, record_region

    url = url or get_settings().database_url
    if url.startswith("sqlite"):
        _sqlite_incremental_vacuum(url)
    check_region(get_engine(url))  # before touching the schema of another region's database
    command.upgrade(alembic_config(url), "head")
    record_region(get_engine(url))
    return make_url(url).render_as_string(hide_password=True)
