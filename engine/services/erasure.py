"""Erasing a data subject: a business's own customer asks to be forgotten (GDPR Art. 17, APP 13).

"Erase everything about jo@example.com / 0412 345 678" finds every run of the workspace whose
trigger payload or step inputs/outputs contain that email address or phone number, in any
formatting (phone numbers are compared in E.164 after parsing with ``phonenumbers``, Australian
numbering by default), and replaces just those values in place with ``[erased]``. Everything
else in the run stays as it was. :func:`find_subject` counts first (the UI shows the count before
anything changes); :func:`erase_subject` redacts in bounded batches and writes one audit row with
the counts, never the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import select, update
from sqlmodel import Session

from engine.db import get_engine, session_scope
from engine.errors import ValidationFailed
from engine.models import Approval, Role, Run, StepRun, WaitToken
from engine.services import audit
from engine.services.actor import Actor

ERASED = "[erased]"
DEFAULT_PHONE_REGION = "AU"
BATCH = 200
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")

runs_t, steps_t = Run.__table__, StepRun.__table__
#: Rows hanging off a run that hold people's words too (flow control): (table, key column, columns).
#: An approval's rendered message and the approver's comment; a resume URL's POSTed body.
HANGING = ((Approval.__table__, "id", ("message", "comment")), (WaitToken.__table__, "token_hash", ("result",)))


@dataclass(frozen=True)
class Subject:
    kind: str  # "email" or "phone"
    value: str  # lower-case email or E.164 number


def parse_subject(raw: str, region: str = DEFAULT_PHONE_REGION) -> Subject:
    """An email address or a phone number in any common format; a field error otherwise."""
    text = (raw or "").strip()
    if not text or len(text) > 320:
        raise ValidationFailed("enter an email address or a phone number", {"subject": "required"})
    if "@" in text:
        if not EMAIL_RE.fullmatch(text):
            raise ValidationFailed("not an email address", {"subject": "is not a valid email address"})
        return Subject("email", text.lower())
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise ValidationFailed("not a phone number", {"subject": "is neither an email address nor a phone number"})
    return Subject("phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _redact_text(text: str, subject: Subject) -> tuple[str, int]:
    """``text`` with each occurrence of the subject replaced by ``[erased]``, and how many."""
    spans: list[tuple[int, int]] = []
    if subject.kind == "email":
        if "@" not in text:
            return text, 0
        spans = [(m.start(), m.end()) for m in EMAIL_RE.finditer(text) if m.group(0).lower() == subject.value]
    else:
        if sum(c.isdigit() for c in text) < 6:
            return text, 0
        for m in phonenumbers.PhoneNumberMatcher(text, DEFAULT_PHONE_REGION, leniency=phonenumbers.Leniency.POSSIBLE):
            if phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164) == subject.value:
                spans.append((m.start, m.end))
    if not spans:
        return text, 0
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start] + ERASED)
        last = end
    out.append(text[last:])
    return "".join(out), len(spans)


def redact_value(value: Any, subject: Subject) -> tuple[Any, int]:
    """A copy of a JSON value with the subject erased from every string (and phone-like number)."""
    if isinstance(value, str):
        return _redact_text(value, subject)
    if isinstance(value, bool) or value is None:
        return value, 0
    if isinstance(value, int) and subject.kind == "phone":
        redacted, n = _redact_text(str(value), subject)
        return (ERASED, n) if n else (value, 0)
    if isinstance(value, dict):
        total, out = 0, {}
        for key, item in value.items():
            out[key], n = redact_value(item, subject)
            total += n
        return out, total
    if isinstance(value, list):
        total, items = 0, []
        for item in value:
            new, n = redact_value(item, subject)
            items.append(new)
            total += n
        return items, total
    return value, 0


def _scan(actor: Actor, subject: Subject, write: bool) -> dict[str, int]:
    """Walk the workspace's runs in id order, BATCH at a time; redact when ``write``."""
    engine = get_engine()
    counts = {"runs": 0, "values": 0}
    last = ""
    while True:
        with engine.begin() if write else engine.connect() as conn:
            runs = conn.execute(select(runs_t.c.id, runs_t.c.trigger_payload)
                                .where(runs_t.c.workspace_id == actor.workspace_id, runs_t.c.id > last)
                                .order_by(runs_t.c.id).limit(BATCH)).all()
            if not runs:
                return counts
            last = runs[-1].id
            hit_runs: set[str] = set()
            for run in runs:
                new, n = redact_value(run.trigger_payload, subject)
                if n:
                    hit_runs.add(run.id)
                    counts["values"] += n
                    if write:
                        conn.execute(update(runs_t).where(runs_t.c.id == run.id).values(trigger_payload=new))
            steps = conn.execute(select(steps_t.c.id, steps_t.c.run_id, steps_t.c.input, steps_t.c.output)
                                 .where(steps_t.c.run_id.in_([r.id for r in runs]))).all()
            for step in steps:
                new_in, n_in = redact_value(step.input, subject)
                new_out, n_out = redact_value(step.output, subject)
                if n_in or n_out:
                    hit_runs.add(step.run_id)
                    counts["values"] += n_in + n_out
                    if write:
                        conn.execute(update(steps_t).where(steps_t.c.id == step.id)
                                     .values(input=new_in, output=new_out))
            for table, key, columns in HANGING:
                rows = conn.execute(select(table.c[key], table.c.run_id, *(table.c[c] for c in columns))
                                    .where(table.c.run_id.in_([r.id for r in runs]))).mappings().all()
                for row in rows:
                    changed: dict[str, Any] = {}
                    for column in columns:
                        new, n = redact_value(row[column], subject)
                        if n:
                            changed[column] = new
                            counts["values"] += n
                    if changed:
                        hit_runs.add(row["run_id"])
                        if write:
                            conn.execute(update(table).where(table.c[key] == row[key]).values(**changed))
            counts["runs"] += len(hit_runs)


def find_subject(actor: Actor, raw: str) -> dict[str, Any]:
    """How many runs (and values) mention the subject; changes nothing (admin or owner)."""
    actor.require(Role.admin)
    subject = parse_subject(raw)
    return {"kind": subject.kind, **_scan(actor, subject, write=False)}


def erase_subject(actor: Actor, raw: str) -> dict[str, Any]:
    """Redact the subject everywhere in the workspace's run data; one audit row with the counts."""
    actor.require(Role.admin)
    subject = parse_subject(raw)
    counts = _scan(actor, subject, write=True)
    with session_scope() as session:
        record_erasure(session, actor, subject.kind, counts)
    return {"kind": subject.kind, **counts}


def record_erasure(session: Session, actor: Actor, kind: str, counts: dict[str, int]) -> None:
    """The audit row of an erasure: what kind of identifier and how much, never the identifier."""
    audit.record(session, actor, "subject.erase", "subject", None,
                 {"kind": kind, "runs": counts["runs"], "values": counts["values"]})
