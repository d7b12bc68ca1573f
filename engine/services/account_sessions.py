"""A person's own signed-in browsers: what the account page lists, and revoking one.

Each page load of a signed-in browser calls :func:`touch`, which records the browser's
user agent, IP address and the time, at most once a minute per session (so browsing does not
turn into a write per click). Revoking a session ends it at once: that browser's next page or
API call finds itself signed out.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from engine.crypto import hash_token
from engine.db import as_aware, utcnow
from engine.errors import NotFound
from engine.models import User, UserSession
from engine.services import audit
from engine.services.account_actor import account_actor

TOUCH_EVERY = timedelta(minutes=1)

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe_device(user_agent: str | None) -> str:
    """"Chrome on macOS" from a User-Agent header (good enough to recognise your own devices)."""
    ua = user_agent or ""
    if not ua:
        return "Unknown device"
    browser = next((name for marker, name in _BROWSERS if marker in ua), "")
    if "HeadlessChrome/" in ua:
        browser = "Headless Chrome"
    system = next((name for marker, name in _SYSTEMS if marker in ua), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or re.split(r"[ /]", ua, maxsplit=1)[0][:40] or "Unknown device"


def _active(us: UserSession) -> bool:
    return us.revoked_at is None and as_aware(us.expires_at) > utcnow()


def touch(session: Session, token: str, user_agent: str | None, ip: str | None) -> None:
    """Remember where and when this session was last seen (throttled to once a minute)."""
    if not token:
        return
    us = session.exec(select(UserSession).where(UserSession.token_hash == hash_token(token))).first()
    if us is None or not _active(us):
        return
    now = utcnow()
    ua, addr = (user_agent or "")[:300] or None, (ip or "")[:64] or None
    fresh = us.last_seen_at is not None and now - as_aware(us.last_seen_at) < TOUCH_EVERY
    if fresh and us.user_agent == ua and us.ip == addr:
        return
    us.last_seen_at, us.user_agent, us.ip = now, ua, addr
    session.add(us)


def list_sessions(session: Session, user_id: str, current_token: str | None) -> list[dict[str, Any]]:
    """The person's active sessions, this browser first, then most recently seen."""
    current = hash_token(current_token) if current_token else ""
    rows = [us for us in session.exec(select(UserSession).where(UserSession.user_id == user_id,
                                                                UserSession.revoked_at.is_(None))).all()
            if _active(us)]
    items = [{"id": us.id, "device": describe_device(us.user_agent), "user_agent": us.user_agent or "",
              "ip": us.ip or "unknown", "current": us.token_hash == current,
              "last_seen_at": as_aware(us.last_seen_at or us.created_at).isoformat(),
              "created_at": as_aware(us.created_at).isoformat()} for us in rows]
    current_items = [i for i in items if i["current"]]
    others = sorted((i for i in items if not i["current"]), key=lambda i: i["last_seen_at"], reverse=True)
    return current_items + others


def revoke_session(session: Session, user_id: str, session_id: str) -> None:
    """End one of the person's own sessions (someone else's answers NotFound)."""
    us = session.exec(select(UserSession).where(UserSession.id == session_id, UserSession.user_id == user_id)).first()
    if us is None or not _active(us):
        raise NotFound("session not found")
    us.revoked_at = utcnow()
    session.add(us)
    user = session.get(User, user_id)
    audit.record(session, account_actor(user), "session.revoke", "session", us.id,
                 {"device": describe_device(us.user_agent), "ip": us.ip})


def revoke_other_sessions(session: Session, user_id: str, current_token: str) -> int:
    """Sign out everywhere else; returns how many sessions ended."""
    current = hash_token(current_token)
    ended = 0
    for us in session.exec(select(UserSession).where(UserSession.user_id == user_id,
                                                     UserSession.revoked_at.is_(None))).all():
        if us.token_hash != current:
            us.revoked_at = utcnow()
            session.add(us)
            ended += 1
    if ended:
        audit.record(session, account_actor(session.get(User, user_id)), "session.revoke_others", "user", user_id,
                     {"sessions_ended": ended})
    return ended
