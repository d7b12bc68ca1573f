"""Contacts, consent and the suppression list: what the Spam Act 2003 asks of marketing messages.

* A contact is keyed per workspace by normalised email and/or E.164 phone.
* Consent is per channel (``email``, ``sms``), ``granted`` or ``withdrawn``, and every change is a
  :class:`ConsentEvent` with its source, time and the wording the person saw.
* The suppression list holds addresses and numbers that must never get marketing again until the
  person re-subscribes (SMS ``START``, or an admin lifting it): an unsubscribe link, a STOP reply or
  an admin puts them there, and it takes effect immediately.
* :func:`marketing_refusal` is what ``email.send`` / ``sms.send`` ask before a marketing message;
  transactional messages (receipts, reminders) never ask.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import phonenumbers
from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from engine.crypto import SecretDecryptError, decrypt_json, encrypt_json, hash_token, new_token
from engine.db import as_aware, session_scope, utcnow
from engine.errors import NotFound, ValidationFailed
from engine.models import ConsentEvent, Contact, MessagingSettings, Role, Suppression
from engine.services import audit
from engine.services.actor import Actor
from engine.services.pagination import clamp_limit

CHANNELS = ("email", "sms")
STATUSES = ("granted", "withdrawn")
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "OPT OUT"})
START_WORDS = frozenset({"START", "UNSTOP", "SUBSCRIBE", "YES", "OPTIN", "OPT IN"})
MAX_IMPORT_ROWS = 10_000


# --- normalising -----------------------------------------------------------------------------


def normalise_email(value: str) -> str:
    from engine.services.accounts import normalise_email as _norm

    return _norm(value)


def normalise_phone(value: str, region: str = "AU") -> str:
    """E.164 (``+61412345678``); a ValidationFailed naming ``phone`` otherwise."""
    text = str(value or "").strip()
    try:
        parsed = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed("invalid phone number", {"phone": f"{text!r} is not a phone number ({exc})"}) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed("invalid phone number", {"phone": f"{text!r} is not a valid number for {region}"})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_address(channel: str, value: str, region: str = "AU") -> str:
    return normalise_email(value) if channel == "email" else normalise_phone(value, region)


def _check_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValidationFailed("unknown channel", {"channel": "must be email or sms"})
    return channel


# --- contacts --------------------------------------------------------------------------------


def contact_public(c: Contact, suppressed: set[tuple[str, str]] | None = None) -> dict[str, Any]:
    suppressed = suppressed or set()
    return {"id": c.id, "email": c.email or "", "phone": c.phone or "", "name": c.name,
            "email_consent": c.email_consent, "sms_consent": c.sms_consent,
            "email_suppressed": bool(c.email and ("email", c.email) in suppressed),
            "sms_suppressed": bool(c.phone and ("sms", c.phone) in suppressed),
            "created_at": as_aware(c.created_at).isoformat(), "updated_at": as_aware(c.updated_at).isoformat()}


def _find(session: Session, workspace_id: str, email: str | None, phone: str | None) -> Contact | None:
    conds = []
    if email:
        conds.append(Contact.email == email)
    if phone:
        conds.append(Contact.phone == phone)
    if not conds:
        return None
    return session.exec(select(Contact).where(Contact.workspace_id == workspace_id, or_(*conds))).first()


def _upsert(session: Session, workspace_id: str, actor_label: str, *, email: str | None, phone: str | None,
            name: str = "") -> Contact:
    if not email and not phone:
        raise ValidationFailed("a contact needs an email or a phone number",
                               {"email": "give an email or a phone number"})
    contact = _find(session, workspace_id, email, phone)
    if contact is None:
        contact = Contact(workspace_id=workspace_id, email=email, phone=phone, name=name.strip()[:200])
        session.add(contact)
        session.flush()
        audit.record_as(session, workspace_id, actor_label, "contact.create", "contact", contact.id,
                        {"email": email, "phone": phone, "name": contact.name})
        return contact
    changed: dict[str, Any] = {}
    for key, value in (("email", email), ("phone", phone), ("name", name.strip()[:200])):
        if value and getattr(contact, key) != value and (key == "name" or not getattr(contact, key)):
            changed[key] = {"from": getattr(contact, key), "to": value}
            setattr(contact, key, value)
    if changed:
        contact.updated_at = utcnow()
        session.add(contact)
        audit.record_as(session, workspace_id, actor_label, "contact.update", "contact", contact.id, changed)
    return contact


def upsert_contact(session: Session, actor: Actor, *, email: str | None = None, phone: str | None = None,
                   name: str = "", region: str = "AU") -> Contact:
    """Find the contact by email or phone (normalised) or create it; fills in missing details."""
    actor.require(Role.editor)
    return _upsert(session, actor.workspace_id, actor.label, email=normalise_email(email) if email else None,
                   phone=normalise_phone(phone, region) if phone else None, name=name)


def get_contact(session: Session, actor: Actor, contact_id: str) -> Contact:
    c = session.exec(select(Contact).where(Contact.id == contact_id,
                                           Contact.workspace_id == actor.workspace_id)).first()
    if c is None:
        raise NotFound("contact not found")
    return c


def _suppressed_set(session: Session, workspace_id: str, contacts: list[Contact]) -> set[tuple[str, str]]:
    addresses = [c.email for c in contacts if c.email] + [c.phone for c in contacts if c.phone]
    if not addresses:
        return set()
    rows = session.exec(select(Suppression.channel, Suppression.address).where(
        Suppression.workspace_id == workspace_id, Suppression.address.in_(addresses))).all()
    return {(ch, addr) for ch, addr in rows}


def list_contacts(session: Session, actor: Actor, *, search: str | None = None, offset: int = 0,
                  limit: int | None = None) -> dict[str, Any]:
    """Contacts matching ``search`` (email, phone or name), newest first; ``total`` for paging."""
    limit = clamp_limit(limit)
    stmt = select(Contact).where(Contact.workspace_id == actor.workspace_id)
    if search and search.strip():
        pattern = f"%{search.strip().lower()}%"
        digits = re.sub(r"\D", "", search)
        conds = [func.lower(Contact.email).like(pattern), func.lower(Contact.name).like(pattern)]
        if len(digits) >= 3:
            conds.append(Contact.phone.like(f"%{digits.lstrip('0')}%"))
        stmt = stmt.where(or_(*conds))
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = list(session.exec(stmt.order_by(Contact.created_at.desc(), Contact.id.desc())
                             .offset(max(0, offset)).limit(limit)).all())
    suppressed = _suppressed_set(session, actor.workspace_id, rows)
    return {"items": [contact_public(c, suppressed) for c in rows], "total": int(total)}


def contact_detail(session: Session, actor: Actor, contact_id: str) -> dict[str, Any]:
    """The contact with its consent history (newest first) and suppressions."""
    c = get_contact(session, actor, contact_id)
    events = session.exec(select(ConsentEvent).where(ConsentEvent.contact_id == c.id)
                          .order_by(ConsentEvent.created_at.desc(), ConsentEvent.id.desc())).all()
    sups = session.exec(select(Suppression).where(Suppression.workspace_id == c.workspace_id,
                                                  Suppression.address.in_([a for a in (c.email, c.phone) if a]))).all()
    return {**contact_public(c, {(s.channel, s.address) for s in sups}),
            "history": [{"channel": e.channel, "status": e.status, "source": e.source, "wording": e.wording,
                         "actor": e.actor, "at": as_aware(e.created_at).isoformat()} for e in events],
            "suppressions": [suppression_public(s) for s in sups]}


# --- consent ---------------------------------------------------------------------------------


def _set_consent(session: Session, workspace_id: str, actor_label: str, contact: Contact, channel: str,
                 status: str, source: str, wording: str) -> ConsentEvent:
    _check_channel(channel)
    if status not in STATUSES:
        raise ValidationFailed("unknown consent status", {"status": "must be granted or withdrawn"})
    if channel == "email" and not contact.email:
        raise ValidationFailed("the contact has no email address", {"email": "needed for email consent"})
    if channel == "sms" and not contact.phone:
        raise ValidationFailed("the contact has no phone number", {"phone": "needed for SMS consent"})
    event = ConsentEvent(workspace_id=workspace_id, contact_id=contact.id, channel=channel, status=status,
                         source=(source or "").strip()[:200], wording=(wording or "").strip()[:2000],
                         actor=actor_label[:200])
    session.add(event)
    setattr(contact, f"{channel}_consent", status)
    contact.updated_at = utcnow()
    session.add(contact)
    audit.record_as(session, workspace_id, actor_label, "consent.set", "contact", contact.id,
                    {"channel": channel, "status": status, "source": event.source, "wording": event.wording[:300]})
    return event


def set_consent(session: Session, actor: Actor, contact_id: str, channel: str, status: str, *, source: str,
                wording: str = "") -> dict[str, Any]:
    """Record consent granted or withdrawn for one channel (editor or above). Granting needs a
    source (where the person said yes); withdrawing also suppresses marketing at once."""
    actor.require(Role.editor)
    contact = get_contact(session, actor, contact_id)
    if status == "granted" and not (source or "").strip():
        raise ValidationFailed("say where the consent came from", {"source": "e.g. 'website form, 3 May'"})
    _set_consent(session, actor.workspace_id, actor.label, contact, channel, status, source, wording)
    if status == "withdrawn":
        address = contact.email if channel == "email" else contact.phone
        _suppress(session, actor.workspace_id, actor.label, channel, address, "consent withdrawn", source or "manual")
    return contact_detail(session, actor, contact.id)


def record_consent_from_step(workspace_id: str, actor_label: str, *, email: str | None, phone: str | None,
                             name: str, channels: list[str], status: str, source: str, wording: str,
                             region: str = "AU") -> dict[str, Any]:
    """What the ``contacts.set_consent`` action does (own transaction). A retried step whose event is
    already recorded (same actor label = same run and step) records nothing twice."""
    with session_scope() as session:
        contact = _upsert(session, workspace_id, actor_label, email=normalise_email(email) if email else None,
                          phone=normalise_phone(phone, region) if phone else None, name=name)
        recorded = []
        for channel in channels:
            done = session.exec(select(ConsentEvent.id).where(
                ConsentEvent.contact_id == contact.id, ConsentEvent.channel == channel,
                ConsentEvent.actor == actor_label[:200])).first()
            if done is None:
                _set_consent(session, workspace_id, actor_label, contact, channel, status, source, wording)
                if status == "withdrawn":
                    address = contact.email if channel == "email" else contact.phone
                    _suppress(session, workspace_id, actor_label, channel, address, "consent withdrawn", source)
            recorded.append(channel)
        return {"contact_id": contact.id, "email": contact.email, "phone": contact.phone, "status": status,
                "channels": recorded}


# --- suppression -----------------------------------------------------------------------------


def suppression_public(s: Suppression) -> dict[str, Any]:
    return {"id": s.id, "channel": s.channel, "address": s.address, "reason": s.reason, "source": s.source,
            "created_at": as_aware(s.created_at).isoformat()}


def _suppress(session: Session, workspace_id: str, actor_label: str, channel: str, address: str | None,
              reason: str, source: str) -> bool:
    """Put ``address`` on the list (idempotent); True when it was not there yet."""
    if not address:
        return False
    exists = session.exec(select(Suppression.id).where(Suppression.workspace_id == workspace_id,
                                                       Suppression.channel == channel,
                                                       Suppression.address == address)).first()
    if exists:
        return False
    try:
        with session.begin_nested():
            session.add(Suppression(workspace_id=workspace_id, channel=channel, address=address,
                                    reason=reason[:200], source=source[:200]))
    except IntegrityError:  # a concurrent unsubscribe of the same address won: same outcome
        return False
    audit.record_as(session, workspace_id, actor_label, "suppression.add", "suppression", None,
                    {"channel": channel, "address": address, "reason": reason, "source": source})
    return True


def suppress(session: Session, actor: Actor, channel: str, address: str, reason: str = "suppressed by an admin",
             region: str = "AU") -> bool:
    """Stop marketing to an address or number (editor or above)."""
    actor.require(Role.editor)
    _check_channel(channel)
    return _suppress(session, actor.workspace_id, actor.label, channel, normalise_address(channel, address, region),
                     reason, "manual")


def unsuppress(session: Session, actor: Actor, channel: str, address: str, region: str = "AU") -> bool:
    """Lift a suppression (admin or owner: they must be sure the person asked for it)."""
    actor.require(Role.admin)
    _check_channel(channel)
    return _unsuppress(session, actor.workspace_id, actor.label, channel,
                       normalise_address(channel, address, region), "lifted by an admin")


def _unsuppress(session: Session, workspace_id: str, actor_label: str, channel: str, address: str,
                reason: str) -> bool:
    row = session.exec(select(Suppression).where(Suppression.workspace_id == workspace_id,
                                                 Suppression.channel == channel,
                                                 Suppression.address == address)).first()
    if row is None:
        return False
    session.delete(row)
    audit.record_as(session, workspace_id, actor_label, "suppression.remove", "suppression", row.id,
                    {"channel": channel, "address": address, "reason": reason})
    return True


def marketing_refusal(workspace_id: str, channel: str, address: str) -> str | None:
    """Why a marketing message to ``address`` must not go out (None when it may): suppressed, or
    no consent granted. Read at send time, so an unsubscribe a second ago already counts."""
    with session_scope() as session:
        sup = session.exec(select(Suppression).where(Suppression.workspace_id == workspace_id,
                                                     Suppression.channel == channel,
                                                     Suppression.address == address)).first()
        if sup is not None:
            return (f"{address} is on the suppression list ({sup.reason or 'unsubscribed'}, "
                    f"{as_aware(sup.created_at).date().isoformat()})")
        column = Contact.email if channel == "email" else Contact.phone
        contact = session.exec(select(Contact).where(Contact.workspace_id == workspace_id, column == address)).first()
        status = getattr(contact, f"{channel}_consent") if contact else "unknown"
        if status != "granted":
            what = "withdrew consent" if status == "withdrawn" else "has no recorded consent"
            return f"{address} {what} for marketing {'emails' if channel == 'email' else 'SMS'}"
    return None


# --- unsubscribe links and inbound STOP/START ------------------------------------------------


def unsubscribe_token(workspace_id: str, address: str) -> str:
    """An opaque link token naming (workspace, email); encrypted, so the link hides the address."""
    return encrypt_json({"w": workspace_id, "c": "email", "a": address})


def read_unsubscribe_token(token: str) -> tuple[str, str, str]:
    try:
        data = decrypt_json(token)
        return str(data["w"]), str(data["c"]), str(data["a"])
    except (SecretDecryptError, KeyError, TypeError, ValueError):
        raise NotFound("this unsubscribe link is not valid") from None


def unsubscribe(session: Session, token: str) -> dict[str, str]:
    """One-click unsubscribe (RFC 8058): suppress at once, record consent withdrawn. Idempotent."""
    workspace_id, channel, address = read_unsubscribe_token(token)
    label = "recipient:unsubscribe-link"
    _suppress(session, workspace_id, label, channel, address, "unsubscribed", "unsubscribe link")
    contact = _find(session, workspace_id, address if channel == "email" else None,
                    address if channel == "sms" else None)
    if contact is not None and getattr(contact, f"{channel}_consent") != "withdrawn":
        _set_consent(session, workspace_id, label, contact, channel, "withdrawn", "unsubscribe link",
                     "clicked unsubscribe")
    return {"workspace_id": workspace_id, "channel": channel, "address": address}


def keyword_of(body: str) -> str | None:
    """``stop`` / ``start`` for an inbound SMS that is an opt-out or opt-in keyword (any case)."""
    text = " ".join(re.sub(r"[^A-Za-z ]", " ", body or "").upper().split())
    if text in STOP_WORDS:
        return "stop"
    if text in START_WORDS:
        return "start"
    return None


def apply_inbound_keyword(session: Session, workspace_id: str, from_number: str, body: str,
                          provider: str) -> str | None:
    """Suppress the sender on STOP (and withdraw SMS consent), lift it on START (and grant it again,
    with the reply as the wording). Returns the keyword handled, or None for other messages."""
    keyword = keyword_of(body)
    if keyword is None:
        return None
    try:
        phone = normalise_phone(from_number, "AU")
    except ValidationFailed:
        return None
    label = f"sms:{provider}-inbound"
    contact = _find(session, workspace_id, None, phone)
    if keyword == "stop":
        _suppress(session, workspace_id, label, "sms", phone, f"replied {body.strip()[:20].upper()}", provider)
        if contact is not None and contact.sms_consent != "withdrawn":
            _set_consent(session, workspace_id, label, contact, "sms", "withdrawn", f"{provider} reply",
                         body.strip()[:200])
    else:
        _unsuppress(session, workspace_id, label, "sms", phone, f"replied {body.strip()[:20].upper()}")
        contact = contact or _upsert(session, workspace_id, label, email=None, phone=phone)
        _set_consent(session, workspace_id, label, contact, "sms", "granted", f"{provider} reply", body.strip()[:200])
    return keyword


def rotate_clicksend_secret(session: Session, actor: Actor) -> str:
    """A new secret for the workspace's ClickSend inbound URL (admin); returned once, stored hashed."""
    actor.require(Role.admin)
    clear = new_token("cs_")
    row = session.get(MessagingSettings, actor.workspace_id) or MessagingSettings(workspace_id=actor.workspace_id)
    replaced = bool(row.clicksend_secret_hash)
    row.clicksend_secret_hash = hash_token(clear)
    row.updated_at = utcnow()
    session.add(row)
    audit.record(session, actor, "messaging.inbound_secret", "workspace", actor.workspace_id,
                 {"provider": "clicksend", "replaced": replaced})
    return clear


def clicksend_workspace(session: Session, secret: str) -> str | None:
    row = session.exec(select(MessagingSettings).where(
        MessagingSettings.clicksend_secret_hash == hash_token(secret or ""))).first()
    return row.workspace_id if row else None


def inbound_status(session: Session, actor: Actor) -> dict[str, Any]:
    row = session.get(MessagingSettings, actor.workspace_id)
    return {"clicksend_secret_set": bool(row and row.clicksend_secret_hash)}


# --- CSV import / export ---------------------------------------------------------------------

CSV_FIELDS = ("email", "phone", "name", "email_consent", "sms_consent", "email_suppressed", "sms_suppressed",
              "created_at")


def export_csv(session: Session, actor: Actor) -> str:
    rows = list(session.exec(select(Contact).where(Contact.workspace_id == actor.workspace_id)
                             .order_by(Contact.created_at)).all())
    suppressed = _suppressed_set(session, actor.workspace_id, rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for c in rows:
        writer.writerow(contact_public(c, suppressed))
    return buf.getvalue()


def import_csv(session: Session, actor: Actor, text: str, *, source: str = "CSV import", region: str = "AU",
               ) -> dict[str, Any]:
    """Add or update contacts from CSV (header row: email, phone, name, and optionally
    email_consent / sms_consent = granted|withdrawn, consent_source, consent_wording).

    Granted consent needs a ``consent_source`` per row or the import's ``source``. Bad rows are
    reported by line number and skipped; good rows are imported.
    """
    actor.require(Role.editor)
    try:
        reader = csv.DictReader(io.StringIO(text or ""))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ValidationFailed("the file is not CSV", {"file": str(exc)}) from None
    if not ({"email", "phone"} & set(header)):
        raise ValidationFailed("the CSV needs an 'email' or 'phone' column", {"file": "add a header row"})
    created = updated = consents = 0
    errors: list[dict[str, Any]] = []
    for line, raw in enumerate(reader, start=2):
        if line - 1 > MAX_IMPORT_ROWS:
            errors.append({"line": line, "error": f"only the first {MAX_IMPORT_ROWS} rows are imported"})
            break
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if isinstance(v, str)}
        try:
            with session.begin_nested():
                email = normalise_email(row["email"]) if row.get("email") else None
                phone = normalise_phone(row["phone"], region) if row.get("phone") else None
                existed = _find(session, actor.workspace_id, email, phone) is not None
                contact = _upsert(session, actor.workspace_id, actor.label, email=email, phone=phone,
                                  name=row.get("name", ""))
                for channel in CHANNELS:
                    status = row.get(f"{channel}_consent", "").lower()
                    if status and status != "unknown" and status != getattr(contact, f"{channel}_consent"):
                        _set_consent(session, actor.workspace_id, actor.label, contact, channel, status,
                                     row.get("consent_source") or source, row.get("consent_wording", ""))
                        consents += 1
                updated += existed
                created += not existed
        except ValidationFailed as exc:
            errors.append({"line": line, "error": "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
                           or exc.message})
    audit.record(session, actor, "contact.import", "contact", None,
                 {"created": created, "updated": updated, "consents": consents, "errors": len(errors)})
    return {"created": created, "updated": updated, "consents": consents, "errors": errors[:100]}


def workspace_name(workspace_id: str) -> str:
    """The sender's name marketing SMS fall back to."""
    from engine.models import Workspace

    with session_scope() as session:
        ws = session.get(Workspace, workspace_id)
        return ws.name if ws else "FlowMate"


CONSENT_STATES = ("unknown", *STATUSES)


def page_contacts(session: Session, actor: Actor, *, email_consent: str | None = None,
                  sms_consent: str | None = None, cursor: str | None = None,
                  limit: int | None = None) -> dict[str, Any]:
    """Contacts newest first in keyset pages (the REST API: stable at any depth, unlike ``offset``),
    optionally only those whose email and/or SMS consent is in a given state; any member may read."""
    from engine.services.pagination import keyset_page

    stmt = select(Contact).where(Contact.workspace_id == actor.workspace_id)
    for field, column, value in (("email_consent", Contact.email_consent, email_consent),
                                 ("sms_consent", Contact.sms_consent, sms_consent)):
        if value is None:
            continue
        if value not in CONSENT_STATES:
            raise ValidationFailed("unknown consent state", {field: f"must be one of {', '.join(CONSENT_STATES)}"})
        stmt = stmt.where(column == value)
    page = keyset_page(session, stmt, Contact, cursor=cursor, limit=limit, public=lambda c: c)
    suppressed = _suppressed_set(session, actor.workspace_id, page["items"])
    return {**page, "items": [contact_public(c, suppressed) for c in page["items"]]}
