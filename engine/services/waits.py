"""Resume URLs of flow.wait_for_event steps: ``POST /hooks/resume/<token>`` resumes the run.

The token is an HMAC of the run id and step path under the instance's secret key, so an
expression can render ``{{ resume_url('wait') }}`` before the step waits (the same URL every
time, for that run and iteration) without revealing the run id. Only its SHA-256 is stored
(``WaitToken``): a database reader cannot resume a run. Each URL works once:

- unknown or expired token → NotFound (404);
- the step is not waiting yet → Conflict "not waiting yet" (409);
- already resumed → :class:`AlreadyResumed` (409, with the first result);
- waiting → the posted JSON is stored as the step's result and the run is woken.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import Session

from engine.config import get_settings
from engine.db import as_aware, utcnow
from engine.errors import Conflict, NotFound
from engine.models import Run, WaitToken
from engine.schemas import ResumeAnswer
from engine.services.actor import Actor
from engine.services.wakeups import wake

RESUME_PREFIX = "/hooks/resume/"
tokens_t = WaitToken.__table__

PENDING, WAITING, RESUMED, EXPIRED = "pending", "waiting", "resumed", "expired"


class AlreadyResumed(Conflict):
    """The resume URL was used already: the 409 answer carries the first result."""

    def __init__(self, result: Any):
        super().__init__("this resume URL was already used")
        self.result = result


def resume_token(run_id: str, path: str) -> str:
    """The resume token of ``path`` in ``run_id`` (deterministic, unguessable without the key)."""
    key = get_settings().secret_key.get_secret_value().encode()
    digest = hmac.new(key, f"flowmate-resume:{run_id}:{path}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def resume_url_of(token: str) -> str:
    return get_settings().base_url.rstrip("/") + RESUME_PREFIX + token


def register(conn: Any, run_id: str, path: str, *, status: str = PENDING, expires_at: Any = None) -> str:
    """Make sure the token row of ``path`` exists (Core connection, caller's transaction); a
    step that starts waiting moves it to ``waiting``. Returns the token."""
    token = resume_token(run_id, path)
    digest = token_hash(token)
    row = conn.execute(select(tokens_t.c.status).where(tokens_t.c.token_hash == digest)).first()
    if row is None:
        conn.execute(insert(tokens_t).values(token_hash=digest, run_id=run_id, step_path=path, status=status,
                                             created_at=utcnow(), expires_at=expires_at))
    elif status == WAITING and row[0] == PENDING:
        conn.execute(update(tokens_t).where(tokens_t.c.token_hash == digest)
                     .values(status=WAITING, expires_at=expires_at))
    return token


def state_of(conn: Any, run_id: str, path: str) -> dict[str, Any] | None:
    """The token row of ``path`` (status, result), or None."""
    row = conn.execute(select(tokens_t.c.status, tokens_t.c.result, tokens_t.c.expires_at)
                       .where(tokens_t.c.token_hash == token_hash(resume_token(run_id, path)))).mappings().first()
    return dict(row) if row else None


def expire(conn: Any, run_id: str, path: str) -> None:
    conn.execute(update(tokens_t).where(tokens_t.c.token_hash == token_hash(resume_token(run_id, path)),
                                        tokens_t.c.status != RESUMED).values(status=EXPIRED))


def resume_url(session: Session, actor: Actor, run_id: str, step_path: str) -> str | None:
    """The resume URL of a wait step of one of the actor's runs (the run page's copy button);
    None when that step has no URL (it never rendered one and is not waiting)."""
    run = session.exec(select(Run.id).where(Run.id == run_id, Run.workspace_id == actor.workspace_id)).first()
    if run is None:
        raise NotFound("run not found")
    state = state_of(session.connection(), run_id, step_path)
    if state is None or state["status"] == EXPIRED:
        return None
    return resume_url_of(resume_token(run_id, step_path))


def resume(session: Session, token: str, payload: Any) -> ResumeAnswer:
    """Resume the waiting step a token belongs to with ``payload`` as its output (once)."""
    if not token or len(token) > 128:
        raise NotFound("unknown resume URL")
    digest = token_hash(token)
    conn = session.connection()
    row = conn.execute(select(tokens_t).where(tokens_t.c.token_hash == digest).with_for_update()).mappings().first()
    if row is None:
        raise NotFound("unknown resume URL")
    expires = as_aware(row["expires_at"])
    if row["status"] == EXPIRED or (row["status"] != RESUMED and expires is not None and expires < utcnow()):
        raise NotFound("this resume URL has expired")
    if row["status"] == RESUMED:
        raise AlreadyResumed(row["result"])
    if row["status"] == PENDING:
        raise Conflict("not waiting yet: the step has not started waiting")
    done = conn.execute(update(tokens_t).where(tokens_t.c.token_hash == digest, tokens_t.c.status == WAITING)
                        .values(status=RESUMED, result=payload, resumed_at=utcnow()))
    if not done.rowcount:  # a concurrent POST won
        raise AlreadyResumed(conn.execute(select(tokens_t.c.result).where(tokens_t.c.token_hash == digest)).scalar())
    wake(session, row["run_id"])
    return ResumeAnswer(resumed=True, result=payload)
