"""Audit streaming to a local receiver: every row exactly once, in order, across a restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from standardwebhooks.webhooks import Webhook
from support import LocalServer, wait_for

from engine.db import session_scope
from engine.errors import Forbidden, ValidationFailed
from engine.models import Role
from engine.services import audit, audit_stream
from engine.services.actor import Actor


def _write(workspace_id: str, n: int, start: int = 0) -> None:
    with session_scope() as session:
        for i in range(start, start + n):
            audit.record(session, Actor.system(workspace_id), "workspace.update", "workspace", workspace_id,
                         {"i": i})


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def _worker(url: str) -> subprocess.Popen:
    """A real `flowmate worker` (Redis queue): its maintenance loop delivers the stream."""
    env = {**os.environ, "FLOWMATE_DATABASE_URL": url, "FLOWMATE_AUDIT_STREAM_INTERVAL_SECONDS": "0.3",
           "FLOWMATE_AUDIT_STREAM_MAX_BACKOFF_SECONDS": "1", "FLOWMATE_OUTBOUND_ALLOW": "127.0.0.0/8"}
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "worker", "--threads", "1", "--nice", "0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


@pytest.mark.integration
def test_webhook_stream_delivers_every_row_once_across_a_worker_restart(pg_db: str, redis_env: dict, workspace: dict,
                                                                        receiver: LocalServer) -> None:
    refuse = {"left": 0}
    refused: set[int] = set()

    def answer(req: dict) -> tuple[int, dict, bytes]:
        if refuse["left"] > 0:
            refuse["left"] -= 1
            refused.add(req["n"])
            return 503, {}, b"down for maintenance"
        return 204, {}, b""

    receiver.route("/audit", answer)
    owner = Actor.system(workspace["id"])
    with session_scope() as session:
        created = audit_stream.set_stream(session, owner, {"kind": "webhook", "url": receiver.url + "/audit"})
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["cursor_seq"] == 1  # new rows only: after workspace.create
    _write(workspace["id"], 5)  # with audit.stream_set: 6 rows to send

    proc = _worker(pg_db)
    try:
        wait_for(lambda: len(receiver.requests) >= 6, timeout=30)
    finally:
        _stop(proc)
    _write(workspace["id"], 5, start=5)  # written while nothing delivers
    refuse["left"] = 2  # and the receiver refuses the first two attempts after the restart
    proc = _worker(pg_db)
    try:
        wait_for(lambda: len(receiver.requests) >= 6 + 2 + 5, timeout=40)
        time.sleep(1.5)  # a duplicate would arrive now
    finally:
        _stop(proc)

    verifier = Webhook(secret)
    accepted = []
    for req in receiver.requests:
        headers = {k.lower(): v for k, v in req["headers"].items()}
        body = req["body"].decode()
        verifier.verify(body, headers)  # raises on a bad signature
        if req["n"] not in refused:
            accepted.append((headers["webhook-id"], json.loads(body)["data"]))
    assert len(receiver.requests) == 13 and len(refused) == 2
    with session_scope() as session:
        expected = [(r.id, r.seq) for r in session.exec(audit.select(audit.AuditLog).where(
            audit.AuditLog.chain == workspace["id"], audit.AuditLog.seq > 1).order_by(audit.AuditLog.seq)).all()]
        stream = audit_stream.get_stream(session, owner)
    assert [(wid, data["seq"]) for wid, data in accepted] == expected  # each row once, in order
    assert len(expected) == 11 and accepted[0][1]["action"] == "audit.stream_set"
    assert stream["pending"] == 0 and stream["failures"] == 0 and stream["last_error"] is None


def test_syslog_tcp_and_udp_messages_are_rfc5424(sqlite_db: str, workspace: dict) -> None:
    owner = Actor.system(workspace["id"])
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    tcp.settimeout(10)
    received = bytearray()

    def serve() -> None:
        conn, _ = tcp.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.extend(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with session_scope() as session:
        audit_stream.set_stream(session, owner, {"kind": "syslog", "host": "127.0.0.1",
                                                 "port": tcp.getsockname()[1], "protocol": "tcp"})
    _write(workspace["id"], 2)
    stream_id = _stream_id(workspace["id"])
    assert audit_stream.deliver_once(stream_id) == 3
    thread.join(timeout=10)
    tcp.close()
    frames = _octet_frames(bytes(received))
    assert len(frames) == 3
    first = frames[0].decode()
    assert first.startswith("<110>1 ") and " flowmate - audit.stream_set [flowmate@32473 id=" in first
    assert json.loads(first[first.index("] ") + 2:])["action"] == "audit.stream_set"

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(10)
    with session_scope() as session:
        audit_stream.set_stream(session, owner, {"kind": "syslog", "host": "127.0.0.1",
                                                 "port": udp.getsockname()[1], "protocol": "udp"})
    assert audit_stream.deliver_once(stream_id) == 1  # the audit.stream_set of the change
    datagram = udp.recv(65536).decode()
    udp.close()
    assert datagram.startswith("<110>1 ") and "audit.stream_set" in datagram


def test_only_owners_configure_streams_and_bad_input_names_the_field(sqlite_db: str, workspace: dict) -> None:
    admin = Actor(workspace_id=workspace["id"], role=Role.admin, label="user:admin@example.com")
    with pytest.raises(Forbidden), session_scope() as session:
        audit_stream.set_stream(session, admin, {"kind": "webhook", "url": "https://example.com/x"})
    with pytest.raises(ValidationFailed) as bad, session_scope() as session:
        audit_stream.set_stream(session, Actor.system(workspace["id"]), {"kind": "webhook", "url": "ftp://x"})
    assert "url" in bad.value.fields
    with pytest.raises(ValidationFailed) as bad, session_scope() as session:
        audit_stream.set_stream(session, Actor.system(workspace["id"]), {"kind": "syslog", "host": "h"})
    assert "port" in bad.value.fields


def _stream_id(workspace_id: str) -> str:
    with session_scope() as session:
        return session.exec(audit.select(audit_stream.AuditStream.id).where(
            audit_stream.AuditStream.workspace_id == workspace_id)).one()


def _octet_frames(data: bytes) -> list[bytes]:
    frames = []
    while data:
        length, _, rest = data.partition(b" ")
        frames.append(rest[:int(length)])
        data = rest[int(length):]
    return frames
