"""The hash that makes the audit trail tamper-evident.

Each audit row's ``hash`` is SHA-256 over a canonical JSON of its content (chain, seq, id,
workspace, actor, action, object, changes, time) and the previous row's hash. Editing a row
changes its hash; deleting one leaves a gap in ``seq`` and a ``prev_hash`` that points nowhere.
The form must never change: old rows are verified with it forever.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def _iso(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_changes(changes: Any) -> Any:
    """``changes`` as the database gives it back (JSON types only), so hashing is stable."""
    return json.loads(json.dumps(changes or {}, default=str, ensure_ascii=False))


def row_hash(*, chain: str, seq: int, row_id: str, workspace_id: str | None, actor: str, action: str,
             object_type: str, object_id: str | None, changes: Any, created_at: datetime, prev_hash: str) -> str:
    content = {
        "chain": chain, "seq": seq, "id": row_id, "workspace_id": workspace_id, "actor": actor, "action": action,
        "object_type": object_type, "object_id": object_id, "changes": canonical_changes(changes),
        "created_at": _iso(created_at), "prev_hash": prev_hash,
    }
    data = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def hash_of(row: Any) -> str:
    """The hash an AuditLog row (or a mapping with the same keys) should carry."""
    get = (lambda k: row[k]) if isinstance(row, dict) else (lambda k: getattr(row, k))
    return row_hash(chain=get("chain"), seq=get("seq"), row_id=get("id"), workspace_id=get("workspace_id"),
                    actor=get("actor"), action=get("action"), object_type=get("object_type"),
                    object_id=get("object_id"), changes=get("changes"), created_at=get("created_at"),
                    prev_hash=get("prev_hash"))
