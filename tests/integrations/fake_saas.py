"""Local Stripe, Shopify (Admin GraphQL) and Mailchimp (Marketing API 3.0) for the integration tests.

Same pattern as ``fake_providers``: real HTTP on 127.0.0.1, credentials checked like the real
service (401 otherwise), every request recorded, in-memory state. Shapes follow the providers'
API references: Stripe's form-encoded bodies with bracketed keys, list objects and idempotent
replays; Shopify's ``{"data", "extensions"}`` GraphQL envelope with ``userErrors`` and
``THROTTLED``; Mailchimp's subscriber-hash member URLs, ``status_if_new`` and compliance states.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fake_oauth import Req, Resp

STRIPE_KEY = "sk_test_51FlowMate_S3CR3T_stripe"
SHOPIFY_TOKEN = "shpat_S3CR3T_0123456789abcdef"
SHOPIFY_SHOP = "harbour-bakery.myshopify.com"
MAILCHIMP_KEY = "0123456789abcdef0123456789abcdef-us21"


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's ``a[b][0][c]=v`` form keys back into nested dicts (list indexes become dict keys)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


@dataclass
class FakeSaaS:
    url: str = ""
    requests: list[Req] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotent: dict[str, tuple[str, Resp]] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "gid://shopify/Order/450789469": {"id": "gid://shopify/Order/450789469", "name": "#1001", "note": ""}})
    shop_customers: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "gid://shopify/Customer/207119551": {"id": "gid://shopify/Customer/207119551",
                                             "email": "bob.norman@example.com", "tags": ["newsletter"]}})
    throttle_next: int = 0
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # subscriber hash -> member
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def to(self, prefix: str) -> list[Req]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def handle(self, req: Req) -> Resp:
        with self._lock:
            self.requests.append(req)
            if req.path.startswith("/v1/"):
                return self._stripe(req)
            if req.path.startswith("/admin/api/"):
                return self._shopify(req)
            if req.path.startswith("/3.0/"):
                return self._mailchimp(req)
        return Resp(404, {"error": "not found"})

    # -- Stripe -------------------------------------------------------------------------------

    def _stripe(self, req: Req) -> Resp:
        if req.headers.get("authorization") != f"Bearer {STRIPE_KEY}":
            return Resp(401, {"error": {"message": "Invalid API Key provided: sk_test_****", "type":
                                        "invalid_request_error"}})
        key = req.headers.get("idempotency-key")
        if req.method == "POST" and key:
            seen = self.idempotent.get(key)
            if seen is not None:
                if seen[0] != req.body.decode():
                    return Resp(400, {"error": {"type": "idempotency_error", "message": "Keys for idempotent "
                                                "requests can only be used with the same parameters they were "
                                                "first used with."}})
                return Resp(seen[1].status, seen[1].body, headers={"Idempotent-Replayed": "true"})
        resp = self._stripe_route(req)
        if req.method == "POST" and key and resp.status < 500:
            self.idempotent[key] = (req.body.decode(), resp)
        return resp

    def _stripe_route(self, req: Req) -> Resp:
        if req.path == "/v1/customers" and req.method == "GET":
            email = req.q("email")
            found = sorted((c for c in self.customers.values() if email is None or c["email"] == email),
                           key=lambda c: -c["created"])[: int(req.q("limit") or 10)]
            return Resp(200, {"object": "list", "data": found, "has_more": False, "url": "/v1/customers"})
        params = unflatten(parse_qsl(req.body.decode(), keep_blank_values=True))
        if req.path == "/v1/customers" and req.method == "POST":
            if params.get("email") and "@" not in params["email"]:
                return Resp(400, {"error": {"type": "invalid_request_error", "param": "email", "code":
                                            "email_invalid", "message": "Invalid email address: " + params["email"]}})
            cid = "cus_" + secrets.token_hex(7)
            customer = {"id": cid, "object": "customer", "email": params.get("email"), "name": params.get("name"),
                        "phone": params.get("phone"), "description": params.get("description"),
                        "metadata": params.get("metadata", {}), "created": int(time.time() * 1000) + len(
                            self.customers), "livemode": False, "currency": None, "balance": 0}
            self.customers[cid] = customer
            return Resp(200, customer)
        if req.path == "/v1/payment_links" and req.method == "POST":
            items = params.get("line_items") or {}
            first = items.get("0") or {}
            price = first.get("price")
            data = first.get("price_data") or {}
            if not price and not (data.get("currency") and data.get("unit_amount") and
                                  (data.get("product_data") or {}).get("name")):
                return Resp(400, {"error": {"type": "invalid_request_error", "param": "line_items[0]", "message":
                                            "You must specify either `price` or `price_data`."}})
            link = {"id": "plink_" + secrets.token_hex(8), "object": "payment_link", "active": True,
                    "currency": data.get("currency", "aud"), "livemode": False,
                    "url": "https://buy.stripe.com/test_" + secrets.token_urlsafe(9), "metadata":
                    params.get("metadata", {}), "_line": first}
            self.links.append(link)
            return Resp(200, {k: v for k, v in link.items() if not k.startswith("_")})
        return Resp(404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL "
                                    f"({req.method}: {req.path})."}})

    # -- Shopify Admin GraphQL ----------------------------------------------------------------

    def _shopify(self, req: Req) -> Resp:
        if not re.fullmatch(r"/admin/api/20\d\d-\d\d/graphql\.json", req.path) or req.method != "POST":
            return Resp(404, {"errors": "Not Found"})
        if req.headers.get("x-shopify-access-token") != SHOPIFY_TOKEN:
            return Resp(401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                                        "password)"})
        cost = {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10, "throttleStatus": {
            "maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}}}
        if self.throttle_next:
            self.throttle_next -= 1
            return Resp(200, {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                              "extensions": cost})
        body = req.json
        query, variables = body["query"].strip(), body.get("variables") or {}
        if query.startswith("query Shop"):
            return Resp(200, {"data": {"shop": {"name": "Harbour Bakery"}}, "extensions": cost})
        if query.startswith("query OrderNote"):
            order = self.orders.get(variables["id"])
            return Resp(200, {"data": {"order": dict(order) if order else None}, "extensions": cost})
        if query.startswith("mutation OrderUpdate"):
            inp = variables["input"]
            order = self.orders.get(inp["id"])
            if order is None:
                return Resp(200, {"data": {"orderUpdate": {"order": None, "userErrors": [
                    {"field": ["id"], "message": "Order does not exist"}]}}, "extensions": cost})
            order["note"] = inp.get("note", order["note"])
            return Resp(200, {"data": {"orderUpdate": {"order": dict(order), "userErrors": []}}, "extensions": cost})
        if query.startswith("query CustomerByEmail"):
            m = re.fullmatch(r'email:"(.*)"', variables["query"])
            found = [c for c in self.shop_customers.values() if m and c["email"].lower() == m.group(1).lower()]
            return Resp(200, {"data": {"customers": {"edges": [{"node": dict(c)} for c in found[:1]]}},
                              "extensions": cost})
        if query.startswith("mutation TagsAdd"):
            customer = self.shop_customers.get(variables["id"])
            if customer is None:
                return Resp(200, {"data": {"tagsAdd": {"node": None, "userErrors": [
                    {"field": ["id"], "message": "Resource does not exist"}]}}, "extensions": cost})
            customer["tags"] = list(dict.fromkeys([*customer["tags"], *variables["tags"]]))
            return Resp(200, {"data": {"tagsAdd": {"node": {"id": customer["id"]}, "userErrors": []}},
                              "extensions": cost})
        return Resp(200, {"errors": [{"message": "Field doesn't exist on type 'QueryRoot'",
                                      "extensions": {"code": "undefinedField"}}]})

    # -- Mailchimp Marketing API --------------------------------------------------------------

    def _mailchimp(self, req: Req) -> Resp:
        auth = req.headers.get("authorization", "")
        key = base64.b64decode(auth[6:]).decode().partition(":")[2] if auth.startswith("Basic ") else ""
        if key != MAILCHIMP_KEY:
            return Resp(401, {"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title":
                              "API Key Invalid", "status": 401, "detail": "Your API key may be invalid, or you've "
                              "attempted to access the wrong datacenter.", "instance": secrets.token_hex(8)})
        if req.path == "/3.0/ping":
            return Resp(200, {"health_status": "Everything's Chimpy!"})
        m = re.fullmatch(r"/3\.0/lists/([A-Za-z0-9]+)/members/([0-9a-f]{32})(/tags)?", req.path)
        if not m:
            return Resp(404, {"title": "Resource Not Found", "status": 404, "detail": "The requested resource "
                              "could not be found."})
        list_id, sub_hash, tags = m.group(1), m.group(2), bool(m.group(3))
        if tags:
            member = self.members.get(sub_hash)
            if member is None:
                return Resp(404, {"title": "Resource Not Found", "status": 404, "detail": "member not found"})
            for tag in req.json.get("tags", []):
                if tag["status"] == "active" and tag["name"] not in member["tags"]:
                    member["tags"].append(tag["name"])
            return Resp(204)
        body = req.json
        email = body.get("email_address", "")
        if hashlib.md5(email.lower().encode()).hexdigest() != sub_hash:  # noqa: S324
            return Resp(400, {"title": "Invalid Resource", "status": 400,
                              "detail": "The subscriber hash does not match the email address."})
        member = self.members.get(sub_hash)
        if member is None:
            status = body.get("status") or body.get("status_if_new")
            if status not in ("subscribed", "unsubscribed", "cleaned", "pending", "transactional"):
                return Resp(400, {"title": "Invalid Resource", "status": 400, "detail": "The resource submitted "
                                  "could not be validated.", "errors": [{"field": "status", "message":
                                  "Value must be one of: subscribed, unsubscribed, cleaned, pending, transactional"}]})
            member = {"id": sub_hash, "email_address": email, "status": status, "merge_fields": {}, "tags": [],
                      "list_id": list_id}
            self.members[sub_hash] = member
        elif body.get("status") == "subscribed" and member["status"] in ("unsubscribed", "cleaned"):
            return Resp(400, {"title": "Member In Compliance State", "status": 400, "detail":
                              f"{email} is in a compliance state due to unsubscribe, bounce, or compliance "
                              "review and cannot be subscribed."})
        elif body.get("status"):
            member["status"] = body["status"]
        member["merge_fields"].update(body.get("merge_fields") or {})
        return Resp(200, {k: (list(v) if isinstance(v, list) else v) for k, v in member.items() if k != "tags"}
                    | {"tags": [{"name": t} for t in member["tags"]]})
