"""Audit trail: one AuditLog row per mutation, written in the mutation's own transaction.

Rows form one hash chain per workspace (and one, ``chain == ""``, for rows outside workspaces,
such as a failed sign-in for an unknown email): see :mod:`engine.services.audit_chain`. A writer
appends by locking the chain's head row with ``UPDATE ... RETURNING`` (a row lock on PostgreSQL,
the write lock on SQLite) and holds it until its transaction commits, so concurrent writers of
one workspace queue up instead of forking the chain; different workspaces never wait on each
other. The action names are listed in :mod:`engine.audit_events`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from engine.db import as_aware, utcnow
from engine.errors import NotFound
from engine.models import AuditChainHead, AuditLog, Membership, User, Workspace, new_id
from engine.redaction import redact
from engine.services.actor import Actor
from engine.services.audit_chain import GENESIS, hash_of, row_hash

SYSTEM_CHAIN = ""
heads_t = AuditChainHead.__table__
audit_t = AuditLog.__table__


# --- writing ---------------------------------------------------------------------------------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _lock_head(session: Session, chain: str) -> tuple[int, str]:
    """Take the chain's head (locked until commit); returns (next seq, previous hash)."""
    conn = session.connection()
    bump = (update(heads_t).where(heads_t.c.chain == chain).values(seq=heads_t.c.seq + 1)
            .returning(heads_t.c.seq, heads_t.c.last_hash))
    row = conn.execute(bump).first()
    if row is None:
        insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
        conn.execute(insert(heads_t).values(chain=chain, seq=0, last_hash="").on_conflict_do_nothing(
            index_elements=["chain"]))
        row = conn.execute(bump).first()
    return int(row[0]), row[1] or GENESIS


def _lock_only(session: Session, chain: str) -> str:
    """Lock the chain's head without appending (a rewrite); returns its current hash."""
    row = session.connection().execute(update(heads_t).where(heads_t.c.chain == chain)
                                       .values(seq=heads_t.c.seq).returning(heads_t.c.last_hash)).first()
    return (row[0] if row else "") or GENESIS


def _append(session: Session, workspace_id: str | None, actor_label: str, action: str, object_type: str,
            object_id: str | None, changes: dict[str, Any]) -> AuditLog:
    chain = workspace_id or SYSTEM_CHAIN
    seq, prev = _lock_head(session, chain)
    row = AuditLog(id=new_id(), workspace_id=workspace_id, actor=actor_label[:200], action=action,
                   object_type=object_type, object_id=object_id, changes=redact(changes or {}),
                   created_at=utcnow(), chain=chain, seq=seq, prev_hash=prev)
    row.hash = hash_of(row)
    session.connection().execute(update(heads_t).where(heads_t.c.chain == chain).values(last_hash=row.hash))
    session.add(row)
    return row


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Add an audit row to ``session`` (committed with the change it describes).

    ``changes`` is redacted: secrets never reach the audit log even if a caller passes them.
    """
    _append(session, actor.workspace_id, actor.label, action, object_type, object_id, changes or {})


def record_as(session: Session, workspace_id: str | None, actor_label: str, action: str, object_type: str,
              object_id: str | None = None, changes: dict[str, Any] | None = None) -> None:
    """Record without an Actor (sign-in, system jobs); ``workspace_id=None`` → the system chain."""
    _append(session, workspace_id, actor_label, action, object_type, object_id, changes or {})


def record_for_user(session: Session, user: User | None, action: str, changes: dict[str, Any] | None = None,
                    *, email: str | None = None) -> None:
    """An account event (sign-in, failure, lockout, sign-out) in every workspace the user belongs to,
    so each workspace's owners see it; an unknown email goes to the system chain."""
    label = f"user:{user.email}" if user is not None else f"anonymous:{(email or '')[:120]}"
    workspace_ids = sorted(session.exec(select(Membership.workspace_id).where(
        Membership.user_id == user.id)).all()) if user is not None else []
    for workspace_id in workspace_ids or [None]:
        _append(session, workspace_id, label, action, "user", user.id if user else None, changes or {})


def record_session_switch(session: Session, user_id: str, from_workspace: str | None, to_workspace: str) -> None:
    """``workspace.switch`` in the workspace the user moved to (naming where they came from)."""
    user = session.get(User, user_id)
    _append(session, to_workspace, f"user:{user.email}" if user else f"user:{user_id}", "workspace.switch",
            "workspace", to_workspace, {"from": from_workspace})


# --- reading ---------------------------------------------------------------------------------


def audit_public(row: AuditLog) -> dict[str, Any]:
    return {"id": row.id, "actor": row.actor, "action": row.action, "object_type": row.object_type,
            "object_id": row.object_id, "changes": row.changes or {},
            "created_at": as_aware(row.created_at).isoformat(), "seq": row.seq, "hash": row.hash}


def _filtered(actor: Actor, *, action: str | None = None, object_type: str | None = None,
              object_id: str | None = None, actor_label: str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> Any:
    stmt = select(AuditLog).where(AuditLog.workspace_id == actor.workspace_id)
    if action:
        prefix = action.rstrip("*")
        stmt = stmt.where(AuditLog.action.startswith(prefix) if prefix != action or action.endswith(".")
                          else AuditLog.action == action)
    if object_type:
        stmt = stmt.where(AuditLog.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditLog.object_id == object_id)
    if actor_label:
        stmt = stmt.where(AuditLog.actor.ilike(f"%{actor_label.strip()}%"))
    if since:
        stmt = stmt.where(AuditLog.created_at >= since)
    if until:
        stmt = stmt.where(AuditLog.created_at < until)
    return stmt


def list_audit(
    session: Session, actor: Actor, *, action: str | None = None, object_type: str | None = None,
    object_id: str | None = None, actor_label: str | None = None, since: datetime | None = None,
    until: datetime | None = None, cursor: str | None = None, limit: int | None = None,
) -> dict[str, Any]:
    """The workspace's audit trail, newest first, keyset-paginated; any member may read it.

    ``action`` matches exactly (``workflow.update``) or by prefix when it ends with a dot or
    ``*`` (``workflow.`` / ``workflow.*``); ``actor_label`` is a case-insensitive substring match.
    """
    from engine.services.pagination import keyset_page

    stmt = _filtered(actor, action=action, object_type=object_type, object_id=object_id,
                     actor_label=actor_label, since=since, until=until)
    return keyset_page(session, stmt, AuditLog, cursor=cursor, limit=limit, public=audit_public)


# --- export ----------------------------------------------------------------------------------

EXPORT_FORMATS = ("csv", "jsonl")
CSV_COLUMNS = ("seq", "created_at", "actor", "action", "object_type", "object_id", "changes", "hash", "id")


def export_audit(session: Session, actor: Actor, fmt: str, *, max_rows: int | None = None,
                 **filters: Any) -> Iterator[str]:
    """The filtered trail, oldest first, as CSV or JSON Lines chunks (streamed, never all in memory).

    Records ``audit.export`` (with the filters) in the caller's transaction at once; the rows are
    read lazily, so the caller can commit that row before streaming the chunks.
    """
    from engine.errors import ValidationFailed

    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed("unknown export format", {"format": "must be csv or jsonl"})
    record(session, actor, "audit.export", "audit", None,
           {"format": fmt, **{k: (v.isoformat() if isinstance(v, datetime) else v)
                              for k, v in filters.items() if v not in (None, "")}})
    stmt = _filtered(actor, **filters).order_by(AuditLog.created_at, AuditLog.id).execution_options(yield_per=500)
    if max_rows:
        stmt = stmt.limit(max_rows)

    def rows() -> Iterator[AuditLog]:  # queried when the first chunk is asked for (after the caller commits)
        yield from session.exec(stmt)

    return _csv_chunks(rows()) if fmt == "csv" else _jsonl_chunks(rows())


def _csv_chunks(rows: Iterable[AuditLog]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for n, row in enumerate(rows, 1):
        data = audit_public(row)
        writer.writerow([data["seq"], data["created_at"], data["actor"], data["action"], data["object_type"],
                         data["object_id"] or "", json.dumps(data["changes"], ensure_ascii=False, sort_keys=True),
                         data["hash"], data["id"]])
        if n % 200 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _jsonl_chunks(rows: Iterable[AuditLog]) -> Iterator[str]:
    lines: list[str] = []
    for row in rows:
        lines.append(json.dumps(audit_public(row), ensure_ascii=False, sort_keys=True))
        if len(lines) >= 200:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


# --- verification ----------------------------------------------------------------------------


def verify_chain(session: Session, chain: str) -> dict[str, Any]:
    """Recompute one chain; ``{"ok", "rows", "broken": None | {"seq", "id", "action", "reason"}}``.

    Names the FIRST row that does not fit: its content no longer matches its hash (edited), its
    ``prev_hash`` is not the previous row's hash, or rows before it are missing (deleted).
    """
    head = session.get(AuditChainHead, chain)
    # Retention may have deleted the oldest rows: the kept part starts after what it recorded.
    expected_seq = (head.pruned_through_seq if head else 0) + 1
    prev, count = (head.pruned_last_hash if head and head.pruned_through_seq else "") or GENESIS, 0
    stmt = select(AuditLog).where(AuditLog.chain == chain).order_by(AuditLog.seq).execution_options(yield_per=1000)
    for row in session.exec(stmt):
        count += 1
        reason = None
        if row.seq != expected_seq:
            reason = (f"row(s) {expected_seq}–{row.seq - 1} before it are missing (deleted)" if row.seq > expected_seq
                      else f"sequence number {row.seq} repeats or goes backwards")
        elif row.prev_hash != prev:
            reason = "its link to the previous row does not match (a row before it was replaced)"
        elif hash_of(row) != row.hash:
            reason = "its content was changed after it was written"
        if reason:
            return {"ok": False, "chain": chain, "rows": count,
                    "broken": {"seq": row.seq, "id": row.id, "action": row.action,
                               "created_at": as_aware(row.created_at).isoformat(), "reason": reason}}
        expected_seq, prev = row.seq + 1, row.hash
    if head is not None and (head.seq != expected_seq - 1 or (head.last_hash or GENESIS) != prev):
        return {"ok": False, "chain": chain, "rows": count,
                "broken": {"seq": expected_seq, "id": None, "action": None, "created_at": None,
                           "reason": f"the newest row(s) {expected_seq}–{head.seq} are missing (deleted)"}}
    return {"ok": True, "chain": chain, "rows": count, "broken": None}


def verify_workspace(session: Session, actor: Actor) -> dict[str, Any]:
    """The actor's workspace chain (the Audit page's "chain verified" banner)."""
    return verify_chain(session, actor.workspace_id)


def verify_all(session: Session, workspace_slug: str | None = None) -> list[dict[str, Any]]:
    """`flowmate audit verify [--workspace SLUG]`: every chain, or one workspace's."""
    if workspace_slug:
        ws = session.exec(select(Workspace).where(Workspace.slug == workspace_slug)).first()
        if ws is None:
            raise NotFound(f"no workspace with slug {workspace_slug!r}")
        targets = [(ws.id, ws.slug)]
    else:
        slugs = dict(session.exec(select(Workspace.id, Workspace.slug)).all())
        chains = set(session.exec(select(AuditChainHead.chain)).all()) | set(
            session.exec(select(AuditLog.chain).distinct()).all())
        targets = [(c, slugs.get(c, "(outside workspaces)" if c == SYSTEM_CHAIN else f"(deleted {c})"))
                   for c in sorted(chains)]
    return [{"workspace": slug, **verify_chain(session, chain)} for chain, slug in targets]


# --- pseudonymisation (account deletion) ------------------------------------------------------


def _replace(value: Any, old: str, new: str, name: str = "") -> Any:
    """``old`` (an email) replaced everywhere; a value that is exactly the person's ``name`` too."""
    if isinstance(value, str):
        return new if name and value == name else value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace(v, old, new, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new, name) for v in value]
    return value


def prune_chain(engine: Any, chain: str, cutoff: datetime, batch: int, pause_s: float = 0.0) -> int:
    """Retention: delete a chain's rows older than ``cutoff``, oldest first, ``batch`` per transaction.

    Only a prefix of the chain is ever removed, and the head row remembers the last removed seq
    and hash, so :func:`verify_chain` still proves the kept rows (a gap anywhere else, or a
    removed prefix that was not recorded here, is still reported as tampering).
    """
    import time

    from sqlalchemy import delete

    total = 0
    while True:
        with engine.begin() as conn:
            head = conn.execute(select(heads_t.c.pruned_through_seq).where(heads_t.c.chain == chain)).scalar() or 0
            rows = conn.execute(select(audit_t.c.seq, audit_t.c.hash, audit_t.c.created_at).where(
                audit_t.c.chain == chain, audit_t.c.seq > head).order_by(audit_t.c.seq).limit(batch)).all()
            prefix = []
            for row in rows:  # only the unbroken run of old rows at the start of the chain
                if as_aware(row.created_at) >= as_aware(cutoff):
                    break
                prefix.append(row)
            if not prefix:
                return total
            last_seq, last_hash = prefix[-1].seq, prefix[-1].hash
            total += conn.execute(delete(audit_t).where(audit_t.c.chain == chain,
                                                        audit_t.c.seq <= last_seq)).rowcount or 0
            conn.execute(update(heads_t).where(heads_t.c.chain == chain).values(
                pruned_through_seq=last_seq, pruned_last_hash=last_hash))
            if len(prefix) < len(rows) or len(rows) < batch:
                return total
        if pause_s:
            time.sleep(pause_s)  # let other writers in between batches


def pseudonymise_actor(session: Session, email: str, pseudonym: str, name: str = "") -> int:
    """Replace ``email`` by ``pseudonym`` in every audit row (actor label and changes); returns the count.

    The rewritten rows are re-hashed together with every later row of their chain, so the chain
    still verifies, and each affected chain gets an ``audit.pseudonymise`` row saying how many rows
    changed, from which seq, and the chain's hash before the rewrite. Runs in the caller's transaction.
    """
    email = (email or "").strip()
    if not email or not pseudonym or email == pseudonym:
        return 0
    pattern = f"%{email}%"
    affected = session.exec(select(AuditLog.chain, func.min(AuditLog.seq), func.count()).where(
        or_(AuditLog.actor.ilike(pattern), cast(AuditLog.changes, String).ilike(pattern))
    ).group_by(AuditLog.chain)).all()
    total = 0
    for chain, first_seq, _n in sorted(affected):
        old_head = _lock_only(session, chain)
        rows = session.exec(select(AuditLog).where(AuditLog.chain == chain, AuditLog.seq >= first_seq)
                            .order_by(AuditLog.seq)).all()
        prev = rows[0].prev_hash if rows else GENESIS
        changed = 0
        for row in rows:
            actor_label = _replace(row.actor, email, pseudonym)
            changes = _replace(row.changes or {}, email, pseudonym, name)
            if actor_label != row.actor or changes != (row.changes or {}):
                changed += 1
            new_hash = row_hash(chain=row.chain, seq=row.seq, row_id=row.id, workspace_id=row.workspace_id,
                                actor=actor_label, action=row.action, object_type=row.object_type,
                                object_id=row.object_id, changes=changes, created_at=row.created_at,
                                prev_hash=prev)
            session.connection().execute(update(audit_t).where(audit_t.c.id == row.id).values(
                actor=actor_label, changes=changes, prev_hash=prev, hash=new_hash))
            prev = new_hash
        session.expire_all()
        session.connection().execute(update(heads_t).where(heads_t.c.chain == chain).values(last_hash=prev))
        _append(session, chain or None, "system:account-deletion", "audit.pseudonymise", "audit", None,
                {"rows": changed, "from_seq": first_seq, "pseudonym": pseudonym, "previous_head_hash": old_head})
        total += changed
    return total
