"""One-click unsubscribe for marketing email: ``/api/unsubscribe/{token}``, no login.

* ``POST`` (RFC 8058: mail clients send ``List-Unsubscribe=One-Click`` without opening a page, and
  the confirm button of the page below) suppresses the address at once and answers 200.
* ``GET`` shows a small page with that button: link scanners and previews fetch URLs with GET, so
  GET alone never unsubscribes anyone.

The token is encrypted (engine.services.contacts.unsubscribe_token): it names the workspace and
the address without showing them, and cannot be forged.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from engine.db import session_scope
from engine.errors import NotFound
from engine.models import Workspace
from engine.services.contacts import read_unsubscribe_token, unsubscribe

router = APIRouter(prefix="/api/unsubscribe", tags=["unsubscribe"])

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
button{{font-size:1rem;padding:.6rem 1.2rem;border-radius:.4rem;border:0;background:#2563eb;color:#fff;cursor:pointer}}
p{{line-height:1.5}}</style></head><body><h1>{title}</h1>{body}</body></html>"""


def _masked(address: str) -> str:
    local, _, domain = address.partition("@")
    return (local[:2] + "•" * max(1, len(local) - 2) + "@" + domain) if domain else address


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status,
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _sender(workspace_id: str) -> str:
    with session_scope() as session:
        ws = session.get(Workspace, workspace_id)
        return ws.name if ws else "this sender"


NOT_VALID = {404: {"description": "The link is not valid (an HTML page says so)", "content": {"text/html": {}}}}


@router.get("/{token}", response_class=HTMLResponse, summary="Unsubscribe page (confirm with one button)",
            responses=NOT_VALID)
def unsubscribe_page(token: str) -> HTMLResponse:
    try:
        workspace_id, _channel, address = read_unsubscribe_token(token)
    except NotFound:
        return _page("Link not valid", "<p>This unsubscribe link is not valid. Reply to the email instead and "
                     "ask to be removed.</p>", 404)
    return _page("Unsubscribe", f"<p>Stop marketing emails from <b>{escape(_sender(workspace_id))}</b> to "
                 f"<b>{escape(_masked(address))}</b>?</p><form method=\"post\"><button type=\"submit\" "
                 "id=\"unsubscribe\">Unsubscribe</button></form>")


@router.post("/{token}", response_class=HTMLResponse, summary="One-click unsubscribe (RFC 8058)", responses=NOT_VALID)
def unsubscribe_now(token: str) -> HTMLResponse:
    try:
        with session_scope() as session:
            done = unsubscribe(session, token)
    except NotFound:
        return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", 404)
    return _page("You're unsubscribed", f"<p>{escape(_masked(done['address']))} will get no more marketing "
                 f"emails from <b>{escape(_sender(done['workspace_id']))}</b>. It took effect straight away.</p>")
