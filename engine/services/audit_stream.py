"""Audit streaming: new audit rows of a workspace go, in order, to a signed webhook or to syslog.

Configured per workspace by an owner. Delivery is a background duty: :func:`deliver_streams` is the
one entry point, called every few seconds by the maintenance loop of every worker/scheduler
process. It is safe to run in many processes at once: a stream is claimed with a conditional
UPDATE (a short lease), and its cursor (``cursor_seq``, the last delivered seq of the workspace's
audit chain) is committed after each delivered row, so a restart resumes exactly where delivery
stopped and nothing is lost. A crash between a delivery and its cursor commit can repeat that one
row: receivers de-duplicate by the row id (the ``webhook-id`` header, the syslog ``id`` param).

* **webhook**: one ``POST`` per row, JSON body, signed the Standard Webhooks way (``webhook-id``,
  ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256>``, secret ``whsec_...``
  shown once when the stream is set up); any 2xx counts as delivered.
* **syslog**: RFC 5424 messages (facility 13 "log audit", severity 6), over TCP with octet-counting
  framing (RFC 6587) or over UDP (one datagram each; UDP itself may drop messages).

Failures back off exponentially (2 s, 4 s, ... up to FLOWMATE_AUDIT_STREAM_MAX_BACKOFF_SECONDS)
and are shown to the owner (last error, failures) on the Audit page.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import socket
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import and_, or_, update
from sqlmodel import Session, select

from engine.config import Settings, get_settings
from engine.crypto import decrypt_json, encrypt_json
from engine.db import as_aware, session_scope, utcnow
from engine.definition import pydantic_fields
from engine.errors import NotFound, StepError, ValidationFailed
from engine.models import AuditChainHead, AuditLog, AuditStream, Role
from engine.services import audit
from engine.services.actor import Actor

log = structlog.get_logger("flowmate.audit_stream")
streams_t = AuditStream.__table__
BATCH = 100
LEASE = timedelta(seconds=60)
SYSLOG_PRI = 13 * 8 + 6  # facility 13 (log audit), severity 6 (informational)
SD_ID = "flowmate@32473"  # 32473: the private enterprise number RFC 5612 reserves for examples
OWNER = f"{socket.gethostname()[:40]}:{os.getpid()}"


class StreamInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern="^(webhook|syslog)$")
    url: str | None = Field(None, max_length=2000)
    host: str | None = Field(None, max_length=255)
    port: int | None = Field(None, ge=1, le=65535)
    protocol: str = Field("tcp", pattern="^(tcp|udp)$")
    enabled: bool = True
    from_start: bool = Field(False, description="Also send the rows written before the stream was set up.")



def _target_errors(data: StreamInput) -> dict[str, str]:
    if data.kind == "webhook":
        parts = urlsplit(data.url or "")
        return {} if parts.scheme in ("http", "https") and parts.hostname else {"url": "an http(s) URL is needed"}
    fields = {}
    if not (data.host or "").strip():
        fields["host"] = "the syslog server's host name or address"
    if not data.port:
        fields["port"] = "the syslog server's port (often 514 or 6514)"
    return fields


def stream_public(s: AuditStream | None, head_seq: int = 0) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"kind": s.kind, "config": dict(s.config), "enabled": s.enabled, "cursor_seq": s.cursor_seq,
            "pending": max(0, head_seq - s.cursor_seq), "failures": s.failures, "last_error": s.last_error,
            "last_delivered_at": as_aware(s.last_delivered_at).isoformat() if s.last_delivered_at else None,
            "next_attempt_at": as_aware(s.next_attempt_at).isoformat() if s.next_attempt_at else None,
            "secret_set": bool(s.secret_encrypted)}


def _head_seq(session: Session, workspace_id: str) -> int:
    head = session.get(AuditChainHead, workspace_id)
    return head.seq if head else 0


def get_stream(session: Session, actor: Actor) -> dict[str, Any] | None:
    """The workspace's stream settings and progress (admins and owners may look)."""
    actor.require(Role.admin)
    row = session.exec(select(AuditStream).where(AuditStream.workspace_id == actor.workspace_id)).first()
    return stream_public(row, _head_seq(session, actor.workspace_id))


def set_stream(session: Session, actor: Actor, raw: Any) -> dict[str, Any]:
    """Create or replace the stream (owner only). A new webhook stream gets a new signing secret,
    returned once as ``secret``."""
    actor.require(Role.owner)
    try:
        data = StreamInput.model_validate(raw or {})
    except ValidationError as exc:
        raise ValidationFailed("the audit stream settings are invalid", pydantic_fields(exc)) from None
    fields = _target_errors(data)
    if fields:
        raise ValidationFailed("the audit stream settings are invalid", fields)
    row = session.exec(select(AuditStream).where(AuditStream.workspace_id == actor.workspace_id)).first()
    config = ({"url": data.url} if data.kind == "webhook"
              else {"host": data.host.strip(), "port": data.port, "protocol": data.protocol})
    clear = None
    new_target = row is None or row.kind != data.kind or row.config != config
    if row is None:
        row = AuditStream(workspace_id=actor.workspace_id, kind=data.kind, config=config)
        row.cursor_seq = 0 if data.from_start else _head_seq(session, actor.workspace_id)
    if data.kind == "webhook" and (new_target or not row.secret_encrypted):
        clear = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        row.secret_encrypted = encrypt_json({"secret": clear})
    if data.kind == "syslog":
        row.secret_encrypted = None
    row.kind, row.config, row.enabled = data.kind, config, data.enabled
    row.failures, row.last_error, row.next_attempt_at = 0, None, None
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    target = config.get("url") or f"{config['protocol']}://{config['host']}:{config['port']}"
    audit.record(session, actor, "audit.stream_set", "audit_stream", row.id,
                 {"kind": data.kind, "target": _without_credentials(target), "enabled": data.enabled,
                  "new_secret": clear is not None})
    out = stream_public(row, _head_seq(session, actor.workspace_id)) or {}
    return {**out, "secret": clear} if clear else out


def delete_stream(session: Session, actor: Actor) -> None:
    actor.require(Role.owner)
    row = session.exec(select(AuditStream).where(AuditStream.workspace_id == actor.workspace_id)).first()
    if row is None:
        raise NotFound("no audit stream is set up")
    session.delete(row)
    audit.record(session, actor, "audit.stream_delete", "audit_stream", row.id, {"kind": row.kind})


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl()
    return url


# --- delivery --------------------------------------------------------------------------------


def row_payload(row: AuditLog) -> dict[str, Any]:
    return {**audit.audit_public(row), "workspace_id": row.workspace_id, "prev_hash": row.prev_hash}


def syslog_message(row: AuditLog, hostname: str | None = None) -> bytes:
    """One RFC 5424 message: header, structured data (id, seq, hash), the row as JSON."""
    def sd(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")

    stamp = as_aware(row.created_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    host = "".join(c for c in (hostname or socket.gethostname()) if 33 <= ord(c) <= 126)[:255] or "-"
    msgid = "".join(c for c in row.action if 33 <= ord(c) <= 126)[:32] or "-"
    data = f'[{SD_ID} id="{sd(row.id)}" seq="{row.seq}" workspace="{sd(row.workspace_id or "")}" hash="{row.hash}"]'
    body = json.dumps(row_payload(row), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return f"<{SYSLOG_PRI}>1 {stamp} {host} flowmate - {msgid} {data} {body}".encode()


async def _send_webhook(stream: AuditStream, rows: list[AuditLog], settings: Settings,
                        delivered: Any) -> None:
    from standardwebhooks.webhooks import Webhook

    from engine.actions._provider import send

    secret = decrypt_json(stream.secret_encrypted)["secret"] if stream.secret_encrypted else ""
    signer = Webhook(secret)
    for row in rows:
        body = json.dumps({"type": "audit.row", "data": row_payload(row)}, ensure_ascii=False, sort_keys=True)
        now = utcnow()
        headers = {"content-type": "application/json", "webhook-id": row.id,
                   "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signer.sign(row.id, now, body),
                   "user-agent": "FlowMate-Audit-Stream"}
        response = await send(settings, "POST", stream.config["url"], what="audit stream webhook", secrets=[secret],
                              timeout=10.0, content=body.encode(), headers=headers)
        if not 200 <= response.status_code < 300:
            raise StepError(f"the receiver answered HTTP {response.status_code}")
        delivered(row.seq)


async def _send_syslog(stream: AuditStream, rows: list[AuditLog], settings: Settings, delivered: Any) -> None:
    from engine.outbound import resolve_allowed

    host, port, protocol = stream.config["host"], int(stream.config["port"]), stream.config.get("protocol", "tcp")
    ips = await resolve_allowed(host, port, settings)
    target = (str(ips[0]), port)

    def push() -> None:
        family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        if protocol == "udp":
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                for row in rows:
                    sock.sendto(syslog_message(row), target)
                    delivered(row.seq)
            return
        with socket.create_connection(target, timeout=10) as sock:
            for row in rows:
                message = syslog_message(row)
                sock.sendall(str(len(message)).encode() + b" " + message)  # RFC 6587 octet counting
                delivered(row.seq)

    await asyncio.to_thread(push)


def _claim(stream_id: str) -> bool:
    from engine.db import get_engine

    now = utcnow()
    with get_engine().begin() as conn:
        return bool(conn.execute(update(streams_t).where(
            streams_t.c.id == stream_id,
            or_(streams_t.c.lease_until.is_(None), streams_t.c.lease_until < now, streams_t.c.lease_owner == OWNER),
        ).values(lease_owner=OWNER, lease_until=now + LEASE)).rowcount)


def _advance(stream_id: str, seq: int) -> None:
    """Commit the cursor after each delivered row (only while we hold the lease)."""
    from engine.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(update(streams_t).where(streams_t.c.id == stream_id, streams_t.c.lease_owner == OWNER,
                                             streams_t.c.cursor_seq < seq)
                     .values(cursor_seq=seq, last_delivered_at=utcnow(), failures=0, last_error=None,
                             next_attempt_at=None))


def _release(stream_id: str, error: str | None, settings: Settings) -> None:
    from engine.db import get_engine

    with get_engine().begin() as conn:
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        if error is not None:
            failures = conn.execute(select(streams_t.c.failures).where(streams_t.c.id == stream_id)).scalar() or 0
            delay = min(settings.audit_stream_max_backoff_seconds, 2.0 ** (failures + 1))
            values.update(failures=failures + 1, last_error=error[:500], next_attempt_at=utcnow()
                          + timedelta(seconds=delay))
        conn.execute(update(streams_t).where(streams_t.c.id == stream_id, streams_t.c.lease_owner == OWNER)
                     .values(**values))


def deliver_once(stream_id: str, settings: Settings | None = None) -> int:
    """Deliver up to one batch of pending rows of one stream; returns how many were delivered."""
    settings = settings or get_settings()
    if not _claim(stream_id):
        return 0
    count = 0
    error: str | None = None
    try:
        with session_scope() as session:
            stream = session.get(AuditStream, stream_id)
            if stream is None or not stream.enabled:
                return 0
            rows = list(session.exec(select(AuditLog).where(
                AuditLog.chain == stream.workspace_id, AuditLog.seq > stream.cursor_seq)
                .order_by(AuditLog.seq).limit(BATCH)).all())
            session.expunge_all()
        if rows:
            def delivered(seq: int) -> None:
                nonlocal count
                _advance(stream_id, seq)
                count += 1

            sender = _send_webhook if stream.kind == "webhook" else _send_syslog
            asyncio.run(sender(stream, rows, settings, delivered))
    except (StepError, OSError, ValueError, KeyError) as exc:
        error = str(exc) or type(exc).__name__
        log.warning("audit_stream.failed", stream_id=stream_id, error=error, delivered=count)
    finally:
        _release(stream_id, error, settings)
    return count


def deliver_streams() -> int:
    """The maintenance loop's entry point: one batch for every enabled stream that is due."""
    settings = get_settings()
    now = utcnow()
    with session_scope() as session:
        ids = list(session.exec(select(AuditStream.id).where(
            AuditStream.enabled.is_(True),
            or_(AuditStream.next_attempt_at.is_(None), AuditStream.next_attempt_at <= now),
            or_(AuditStream.lease_until.is_(None), and_(AuditStream.lease_until < now)),
        )).all())
    return sum(deliver_once(stream_id, settings) for stream_id in ids)
