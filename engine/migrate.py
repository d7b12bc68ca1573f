"""Apply Alembic migrations programmatically (`flowmate db upgrade`, tests, app start)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from engine.config import get_settings

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["database_url"] = url or get_settings().database_url
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str | None = None) -> str:
    """Upgrade the database to the newest revision; returns the URL without any password."""
    from sqlalchemy.engine import make_url

    url = url or get_settings().database_url
    command.upgrade(alembic_config(url), "head")
    return make_url(url).render_as_string(hide_password=True)
