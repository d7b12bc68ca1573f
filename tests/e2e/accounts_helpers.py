"""Helpers for the accounts browser tests: wait for a system mail and take the link out of it."""

from __future__ import annotations

import sqlite3
from email.message import EmailMessage
from typing import Any

from mail_support import links
from support import wait_for


def mail_to(sink: Any, address: str, contains: str = "", timeout: float = 20.0) -> EmailMessage:
    """The newest mail to ``address`` whose subject contains ``contains`` (waits for it)."""
    def newest() -> EmailMessage | None:
        found = [m for m in sink.to(address) if contains in str(m["Subject"])]
        return found[-1] if found else None

    return wait_for(newest, timeout=timeout)


def link_in(message: EmailMessage, path_part: str) -> str:
    return next(link for link in links(message) if path_part in link)


def mail_count(sink: Any, address: str, contains: str = "") -> int:
    return len([m for m in sink.to(address) if contains in str(m["Subject"])])


def app_sql(app_server: Any, sql: str, *params: Any) -> list[tuple]:
    """Run SQL on the app's SQLite database (to age an invitation past its expiry)."""
    path = app_server.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=15) as conn:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
    return rows
