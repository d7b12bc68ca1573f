"""Drive the real Connect flow (FastAPI app + the local authorization server) without a browser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fake_oauth import FakeOAuth


@dataclass
class SignedIn:
    workspace_id: str
    user_id: str
    cookie: str
    client: Any  # starlette TestClient on build_api(), carrying the session cookie


def signed_in_client(email: str = "owner@bakery.example") -> SignedIn:
    from starlette.testclient import TestClient

    from engine.db import session_scope
    from engine.services.accounts import create_user, create_workspace
    from engine.services.sessions import COOKIE_NAME, start_session
    from flowmate_app.api import build_api

    with session_scope() as session:
        ws = create_workspace(session, "Harbour Bakery")
        user = create_user(session, email, "correct horse battery", ws, role="owner", name="Pat")
        cookie = start_session(session, user, ws.id)
        ids = (ws.id, user.id)
    client = TestClient(build_api(), base_url="http://localhost:3000")
    client.cookies.set(COOKIE_NAME, cookie)
    return SignedIn(workspace_id=ids[0], user_id=ids[1], cookie=cookie, client=client)


def start(who: SignedIn, name: str = "xero", type_: str = "xero") -> str:
    """GET /oauth/start → the provider's authorize URL (asserting the 303)."""
    r = who.client.get("/oauth/start", params={"type": type_, "name": name}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"]


def approve(authorize_url: str, decision: str = "allow") -> dict[str, str]:
    """Click Allow on the local consent page; returns the callback's query (code, state)."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    base = authorize_url.split("?", 1)[0]
    r = httpx.post(base, data={**query, "decision": decision}, follow_redirects=False)
    assert r.status_code == 302, r.text
    return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}


def connect(who: SignedIn, server: FakeOAuth, name: str = "xero", type_: str = "xero") -> Any:
    """The whole flow; returns the callback response."""
    answer = approve(start(who, name, type_))
    return who.client.get("/oauth/callback", params=answer, follow_redirects=False)


def connection_row(workspace_id: str, name: str) -> Any:
    from sqlmodel import select

    from engine.db import session_scope
    from engine.models import Connection

    with session_scope() as session:
        return session.exec(select(Connection).where(Connection.workspace_id == workspace_id,
                                                     Connection.name == name)).one()
