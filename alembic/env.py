"""Alembic environment: targets SQLModel.metadata; the URL comes from FlowMate settings."""

from __future__ import annotations

from logging.config import fileConfig

from sqlmodel import SQLModel

import engine.models  # noqa: F401 - registers the tables on SQLModel.metadata
from alembic import context
from engine.db import get_engine

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    url = config.attributes.get("database_url")
    connectable = get_engine(url)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
