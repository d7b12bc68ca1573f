"""`flowmate keys rotate`: re-encrypt every stored secret under the current primary key.

Procedure for an operator: move the current FLOWMATE_SECRET_KEY into FLOWMATE_OLD_SECRET_KEYS,
set a new FLOWMATE_SECRET_KEY, restart, run ``flowmate keys rotate``; once it reports no
failures, the old key can be removed from FLOWMATE_OLD_SECRET_KEYS.

All rows are rotated in ONE transaction: if any secret cannot be decrypted with the configured
keys, nothing is written and the failing rows are named (by id, never by content), so the
operator can add the missing old key and run it again. Rotation is idempotent.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from engine.config import Settings, get_settings
from engine.crypto import SecretDecryptError, rotate
from engine.errors import FlowMateError
from engine.models import Connection, Trigger, UserMfa
from engine.services import audit


class RotationFailed(FlowMateError):
    """Some secrets could not be decrypted with any configured key; nothing was changed."""

    def __init__(self, message: str, failures: list[dict[str, str]]):
        super().__init__(message)
        self.failures = failures


def rotate_secrets(session: Session, settings: Settings | None = None, actor_label: str = "cli") -> dict[str, Any]:
    """Re-encrypt Connection.secret_encrypted and Trigger.secret_encrypted; return counts.

    Raises RotationFailed (and the caller's transaction is rolled back) if any row fails.
    """
    settings = settings or get_settings()
    counts = {"connections": 0, "triggers": 0}
    per_workspace: dict[str, dict[str, int]] = {}
    failures: list[dict[str, str]] = []
    for conn in session.exec(select(Connection).where(Connection.secret_encrypted != "")).all():
        try:
            conn.secret_encrypted = rotate(conn.secret_encrypted, settings)
        except SecretDecryptError:
            failures.append({"table": "connection", "id": conn.id, "workspace_id": conn.workspace_id})
            continue
        session.add(conn)
        counts["connections"] += 1
        per_workspace.setdefault(conn.workspace_id, {"connections": 0, "triggers": 0})["connections"] += 1
    for trig in session.exec(select(Trigger).where(Trigger.secret_encrypted.is_not(None))).all():  # type: ignore[union-attr]
        if not trig.secret_encrypted:
            continue
        try:
            trig.secret_encrypted = rotate(trig.secret_encrypted, settings)
        except SecretDecryptError:
            failures.append({"table": "trigger", "id": trig.id, "workspace_id": trig.workspace_id})
            continue
        session.add(trig)
        counts["triggers"] += 1
        per_workspace.setdefault(trig.workspace_id, {"connections": 0, "triggers": 0})["triggers"] += 1
    mfa_rows = 0
    for row in session.exec(select(UserMfa)).all():  # TOTP secrets (account-level, no workspace)
        try:
            row.secret_encrypted = rotate(row.secret_encrypted, settings)
        except SecretDecryptError:
            failures.append({"table": "usermfa", "id": row.user_id, "workspace_id": ""})
            continue
        session.add(row)
        mfa_rows += 1
    if failures:
        session.rollback()
        raise RotationFailed(
            f"{len(failures)} secret(s) could not be decrypted with FLOWMATE_SECRET_KEY or "
            "FLOWMATE_OLD_SECRET_KEYS; nothing was changed. Add the key they were encrypted with "
            "to FLOWMATE_OLD_SECRET_KEYS and run again.",
            failures,
        )
    _audit_rotation(session, {**counts, "mfa_secrets": mfa_rows}, per_workspace, actor_label)
    return {**counts, "mfa_secrets": mfa_rows, "old_keys_configured": len(settings.old_secret_keys)}


def _audit_rotation(session: Session, counts: dict[str, int], per_workspace: dict[str, dict[str, int]],
                    actor_label: str) -> None:
    """One ``keys.rotate`` row in every workspace whose secrets were re-encrypted (so each
    workspace's Audit page shows it), plus one outside workspaces with the totals."""
    for workspace_id in sorted(per_workspace):
        audit.record_as(session, workspace_id, actor_label, "keys.rotate", "system", None,
                        {"scope": "workspace", **per_workspace[workspace_id]})
    audit.record_as(session, None, actor_label, "keys.rotate", "system", None,
                    {"scope": "all", **counts, "workspaces": len(per_workspace)})
