"""The data region a database was created for, recorded at its first migration and checked by
every process at start-up (see engine.services.residency for what the regions mean).

It lives in the core layer because the migration runner records it; everything about which
workspaces and providers a region allows is in engine.services.residency.
"""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url

from engine.config import get_settings
from engine.errors import FlowMateError
from engine.models import DeploymentFact

REGION_KEY = "data_region"


class RegionMismatch(FlowMateError):
    """The database was created for another data region than this process is configured for."""


def deployment_region() -> str:
    return get_settings().data_region


def _has_fact_table(engine: Engine) -> bool:
    return inspect(engine).has_table(DeploymentFact.__tablename__)


def recorded_region(engine: Engine) -> str | None:
    """The region the database was created for (None before the governance migration)."""
    if not _has_fact_table(engine):
        return None
    with engine.connect() as conn:
        row = conn.execute(text("SELECT value FROM deploymentfact WHERE key = :k"), {"k": REGION_KEY}).first()
    return row[0] if row else None


def mismatch_message(recorded: str, configured: str, url: str) -> str:
    where = make_url(url).render_as_string(hide_password=True)
    return (f"data region mismatch: the database {where} was created for data region {recorded!r}, but this "
            f"process is configured with FLOWMATE_DATA_REGION={configured!r}. Refusing to start: point "
            f"FLOWMATE_DATABASE_URL at the {configured} database or set FLOWMATE_DATA_REGION={recorded}.")


def check_region(engine: Engine) -> str | None:
    """Raise :class:`RegionMismatch` unless the database's recorded region is the configured one."""
    configured = deployment_region()
    recorded = recorded_region(engine)
    if recorded is not None and recorded != configured:
        raise RegionMismatch(mismatch_message(recorded, configured, str(engine.url)))
    return recorded


def record_region(engine: Engine) -> str:
    """Record the configured region if the database has none yet (its first migration)."""
    from engine.db import utcnow

    recorded = check_region(engine)
    if recorded is None:
        with engine.begin() as conn:
            conn.execute(DeploymentFact.__table__.insert().values(key=REGION_KEY, value=deployment_region(),
                                                                  created_at=utcnow()))
        recorded = deployment_region()
    return recorded
