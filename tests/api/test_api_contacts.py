"""GET /api/v1/contacts and /api/v1/contacts/{id}: keyset pages, consent filters, tenancy and auth."""

from __future__ import annotations

from conftest import ApiCtx

from engine.db import session_scope
from engine.services import contacts
from engine.services.actor import Actor


def _seed(tenant_id: str, n: int) -> list[str]:
    """``n`` contacts; every third grants email consent, every fifth withdraws SMS consent."""
    actor = Actor.system(tenant_id)
    ids = []
    with session_scope() as session:
        for i in range(n):
            c = contacts.upsert_contact(session, actor, email=f"Person{i}@Example.com", phone=f"0412 000 {i:03d}",
                                        name=f"Person {i}")
            session.flush()
            if i % 3 == 0:
                contacts.set_consent(session, actor, c.id, "email", "granted", source="website form",
                                     wording="Yes, send me news")
            if i % 5 == 0:
                contacts.set_consent(session, actor, c.id, "sms", "withdrawn", source="STOP reply")
            ids.append(c.id)
    return ids


def _all_pages(api: ApiCtx, query: str, role: str = "viewer", limit: int = 7) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        r = api.get(f"/api/v1/contacts?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else ""), role=role)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            return items
        assert pages < 100


def test_contacts_page_through_every_contact_once_newest_first(any_api: ApiCtx) -> None:
    ids = _seed(any_api.a.id, 30)
    _seed(any_api.b.id, 4)  # another workspace's contacts never show
    items = _all_pages(any_api, "")
    assert sorted(c["id"] for c in items) == sorted(ids)
    assert len({c["id"] for c in items}) == 30
    stamps = [(c["created_at"], c["id"]) for c in items]
    assert stamps == sorted(stamps, reverse=True)
    first = next(c for c in items if c["name"] == "Person 0")
    assert first["email"] == "person0@example.com" and first["phone"] == "+61412000000"
    assert first["email_consent"] == "granted" and first["sms_consent"] == "withdrawn" and first["sms_suppressed"]


def test_contacts_filter_by_consent_state(any_api: ApiCtx) -> None:
    _seed(any_api.a.id, 30)
    granted = _all_pages(any_api, "&email_consent=granted")
    assert {c["name"] for c in granted} == {f"Person {i}" for i in range(0, 30, 3)}
    withdrawn = _all_pages(any_api, "&sms_consent=withdrawn&email_consent=granted", limit=2)
    assert {c["name"] for c in withdrawn} == {f"Person {i}" for i in range(0, 30, 15)}
    unknown = _all_pages(any_api, "&email_consent=unknown")
    assert len(unknown) == 20 and all(c["email_consent"] == "unknown" for c in unknown)
    bad = any_api.get("/api/v1/contacts?email_consent=maybe")
    assert bad.status_code == 422 and "email_consent" in bad.text
    bad = any_api.get("/api/v1/contacts?cursor=not-a-cursor")
    assert bad.status_code == 422 and "cursor" in bad.json()["error"]["fields"]


def test_one_contact_with_its_consent_history_and_tenancy(any_api: ApiCtx) -> None:
    ids = _seed(any_api.a.id, 1)
    r = any_api.get(f"/api/v1/contacts/{ids[0]}", role="viewer")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(h["channel"], h["status"]) for h in body["history"]] in (
        [("sms", "withdrawn"), ("email", "granted")], [("email", "granted"), ("sms", "withdrawn")])
    assert any(h["wording"] == "Yes, send me news" for h in body["history"])
    assert [(s["channel"], s["address"]) for s in body["suppressions"]] == [("sms", "+61412000000")]
    assert any_api.get(f"/api/v1/contacts/{ids[0]}", tenant=any_api.b).status_code == 404  # another workspace's
    assert any_api.get("/api/v1/contacts/nope").status_code == 404
    assert any_api.client.get("/api/v1/contacts").status_code == 401
    assert any_api.client.get(f"/api/v1/contacts/{ids[0]}",
                              headers={"Authorization": "Bearer not-a-token"}).status_code == 401
