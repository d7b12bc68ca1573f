"""Connections: credentials for outside services. Secrets are write-only.

The form never receives a stored secret: for a saved connection each secret field only says
whether a value is set, and leaving it blank keeps the stored value (engine.services.connections
merges it). "Test" makes one cheap real call through engine.services.connection_checks.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

import reflex as rx
from sqlmodel import Session

from engine.db import session_scope
from engine.errors import FlowMateError, ValidationFailed
from engine.oauth import connect as oauth_connect
from engine.oauth import providers as oauth_flows
from engine.services import connections as svc
from engine.services.actor import Actor
from flowmate_app.auth import AuthState, error_text
from flowmate_app.formatting import fmt_ago
from flowmate_app.state_helpers import ConfirmDeleteMixin

CHOICES: dict[str, list[str]] = {
    "auth_type": ["none", "bearer", "basic", "header"],
    "security": ["starttls", "ssl", "none"],
    "verify_tls": ["true", "false"],
    "data_location": ["unknown", "au", "nz", "sg", "us", "eu"],  # engine.services.residency.LOCATIONS
}
LABELS: dict[str, str] = {
    "auth_type": "Authentication", "header_name": "Header name", "header_value": "Header value",
    "base_url": "Base URL", "signing_secret": "Signing secret (HMAC)", "from_email": "From email",
    "from_name": "From name", "verify_tls": "Verify TLS certificate", "account_sid": "Account SID",
    "from_number": "From number", "auth_token": "Auth token", "api_key": "API key",
    "access_token": "Access token", "webhook_url": "Webhook URL", "host": "Host", "port": "Port",
    "security": "Security", "username": "Username", "password": "Password", "token": "Token",
    "data_location": "Where the provider processes data",
}
PLACEHOLDERS: dict[str, str] = {
    "host": "smtp.example.com.au", "port": "587", "from_email": "hello@yourbusiness.com.au",
    "base_url": "https://api.example.com", "from_number": "+61400000000", "account_sid": "AC…",
    "webhook_url": "https://hooks.slack.com/services/…", "header_name": "X-Api-Key",
}
TYPE_ICONS = {"http": "globe", "smtp": "mail", "twilio": "message_square", "clicksend": "message_square",
              "hubspot": "contact", "slack": "hash"}
# Integrations (issue 15): icons, labels and placeholders of the new connection types.
TYPE_ICONS.update({"xero": "receipt", "google_sheets": "sheet", "stripe": "credit_card", "shopify": "shopping_bag",
                   "mailchimp": "mails"})
LABELS.update({"webhook_secret": "Webhook signing secret", "shop_domain": "Shop domain", "api_version": "API version",
               "tenant_id": "Organisation ID", "tenant_name": "Organisation", "refresh_token": "Refresh token"})
PLACEHOLDERS.update({"shop_domain": "your-shop.myshopify.com", "api_version": "2025-10"})


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


class ConnectionsState(ConfirmDeleteMixin, AuthState):
    loading: bool = True
    load_error: str = ""
    rows: list[dict[str, str]] = []

    # Add / edit dialog.
    form_open: bool = False
    form_id: str = ""  # "" = new connection
    form_type: str = "smtp"
    form_name: str = ""
    form_fields: list[dict[str, str]] = []
    form_error: str = ""
    form_field_errors: dict[str, str] = {}
    saving: bool = False

    # "Connect" for OAuth types (engine.oauth): the form shows a button instead of secret fields.
    form_oauth: bool = False
    form_oauth_configured: bool = False
    form_oauth_title: str = ""
    form_oauth_help: str = ""

    # Test (delete: ConfirmDeleteMixin).
    testing_id: str = ""
    test_results: dict[str, str] = {}
    test_ok: dict[str, str] = {}

    @rx.var
    def type_options(self) -> list[dict[str, str]]:
        return [{"value": k, "label": v.title} for k, v in svc.CONNECTION_TYPES.items()]

    def _fields_for(self, type_: str, config: dict[str, Any] | None = None,
                    secrets_set: list[str] | None = None) -> list[dict[str, str]]:
        kind = svc.CONNECTION_TYPES[type_]
        config, secrets_set = config or {}, secrets_set or []
        if oauth_flows.flow_for(type_) is not None:
            return []  # tokens come from Connect; tenant and base URL are set by the flow
        out = []
        for name in kind.config_fields:
            value = config.get(name)
            out.append({
                "name": f"config.{name}", "label": _label(name), "kind": "choice" if name in CHOICES else "text",
                "value": "" if value is None else str(value).lower() if isinstance(value, bool) else str(value),
                "choices": ",".join(CHOICES.get(name, [])), "required": "true" if name in kind.required else "",
                "placeholder": PLACEHOLDERS.get(name, ""), "is_set": "",
            })
        for name in kind.secret_fields:
            is_set = name in secrets_set
            out.append({
                "name": f"secret.{name}", "label": _label(name), "kind": "secret", "value": "", "choices": "",
                "required": "true" if name in kind.required and not is_set else "",
                "placeholder": "Saved — leave blank to keep" if is_set else "",
                "is_set": "true" if is_set else "",
            })
        return out

    @rx.event
    def load(self) -> None:
        actor = self.actor()
        if actor is None:
            return
        try:
            with session_scope() as session:
                items = svc.list_connections(session, actor)
                grants = oauth_connect.grant_status(session, [c["id"] for c in items])
            self.rows = [
                {
                    "id": c["id"], "name": c["name"], "type": c["type"],
                    "type_title": svc.CONNECTION_TYPES[c["type"]].title if c["type"] in svc.CONNECTION_TYPES
                    else c["type"],
                    "icon": TYPE_ICONS.get(c["type"], "plug"),
                    "summary": " · ".join(str(c["config"][k]) for k in ("tenant_name", "shop_domain", "host",
                                                                         "base_url", "username", "account_sid",
                                                                         "from_number", "from_email")
                                          if c["config"].get(k))[:120],
                    "secrets": ", ".join(_label(s) for s in c["secrets_set"]) or "none",
                    "updated": fmt_ago(c["updated_at"]),
                    **_oauth_row(c, grants.get(c["id"])),
                }
                for c in items
            ]
            self.load_error = ""
        except FlowMateError as exc:
            self.load_error = error_text(exc)
        except Exception:
            self.load_error = "The connections could not be loaded. Try again in a moment."
        self.loading = False

    @rx.event
    def open_new(self) -> None:
        self.form_id, self.form_type, self.form_name = "", "smtp", ""
        self.form_fields = self._fields_for("smtp")
        self._set_oauth("smtp")
        self.form_error, self.form_field_errors, self.form_open = "", {}, True

    @rx.event
    def open_edit(self, connection_id: str) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        try:
            with session_scope() as session:
                data = svc.connection_public(svc.get_connection(session, actor, connection_id))
        except FlowMateError as exc:
            return rx.toast.error(error_text(exc))
        self.form_id, self.form_type, self.form_name = data["id"], data["type"], data["name"]
        self.form_fields = self._fields_for(data["type"], data["config"], data["secrets_set"])
        self._set_oauth(data["type"])
        self.form_error, self.form_field_errors, self.form_open = "", {}, True
        return None

    @rx.event
    def set_form_open(self, value: bool) -> None:
        self.form_open = value

    @rx.event
    def set_form_type(self, value: str) -> None:
        if value in svc.CONNECTION_TYPES and not self.form_id:
            self.form_type = value
            self.form_fields = self._fields_for(value)
            self._set_oauth(value)
            self.form_field_errors = {}

    @rx.event
    def save(self, form: dict[str, Any]) -> Any:
        actor = self.actor()
        if actor is None:
            return None
        config: dict[str, Any] = {}
        secret: dict[str, str] = {}
        for key, value in form.items():
            value = str(value if value is not None else "").strip()
            if key.startswith("config.") and value != "":
                name = key.split(".", 1)[1]
                config[name] = int(value) if name == "port" and value.isdigit() else (
                    value == "true" if name == "verify_tls" else value)
            elif key.startswith("secret.") and value:
                secret[key.split(".", 1)[1]] = value
        raw = {"type": self.form_type, "name": str(form.get("name") or "").strip(), "config": config,
               "secret": secret}
        if self.form_oauth and not self.form_id:
            return self._connect(raw["name"])  # editing an OAuth connection saves its name below
        self.saving = True
        try:
            with session_scope() as session:
                if self.form_id:
                    svc.update_connection(session, actor, self.form_id,
                                          {"name": raw["name"], "config": config, "secret": secret})
                else:
                    svc.create_connection(session, actor, raw)
        except ValidationFailed as exc:
            self.form_error = exc.message
            self.form_field_errors = dict(exc.fields)
            self.saving = False
            return None
        except FlowMateError as exc:
            self.form_error, self.form_field_errors = error_text(exc), {}
            self.saving = False
            return None
        self.saving, self.form_open = False, False
        was_new = not self.form_id
        self.load()
        return rx.toast.success("Connection " + ("added" if was_new else "saved"))

    @rx.event(background=True)
    async def test(self, connection_id: str) -> None:
        """Run the provider check off the event loop; the row shows a spinner meanwhile."""
        async with self:
            actor = self.actor()
            if actor is None:
                return
            self.testing_id = connection_id

        def check() -> dict[str, Any]:
            with session_scope() as session:
                return svc.test_connection(session, actor, connection_id)

        try:
            result = await asyncio.to_thread(check)
            ok, message = bool(result.get("ok")), str(result.get("message") or "")
            if result.get("latency_ms") is not None:
                message += f" ({result['latency_ms']} ms)"
        except FlowMateError as exc:
            ok, message = False, error_text(exc)
        except Exception as exc:  # the check itself broke: still answer the person
            ok, message = False, f"The test could not run: {exc.__class__.__name__}"
        async with self:
            self.testing_id = ""
            self.test_results = {**self.test_results, connection_id: message[:300]}
            self.test_ok = {**self.test_ok, connection_id: "true" if ok else ""}

    def _delete(self, session: Session, actor: Actor, item_id: str) -> None:
        svc.delete_connection(session, actor, item_id)

    def _deleted(self) -> Any:
        self.load()
        return rx.toast.success(f"Deleted “{self.confirm_name}”")

    # -- OAuth "Connect" (engine.oauth) -----------------------------------------------------

    def _set_oauth(self, type_: str) -> None:
        status = oauth_connect.provider_status(type_)
        self.form_oauth = bool(status["oauth"])
        self.form_oauth_configured = bool(status.get("configured"))
        self.form_oauth_title = str(status.get("title") or "")
        self.form_oauth_help = (
            "" if not status["oauth"] or status.get("configured") else
            f"{status['title']} is not configured on this server yet. The administrator creates an app at "
            f"{status['title']} with the callback URL {status['redirect_uri']} and sets "
            f"{status['env_prefix']}CLIENT_ID and {status['env_prefix']}CLIENT_SECRET."
        )

    def _connect(self, name: str) -> Any:
        """Leave the page for /oauth/start (a full navigation: it answers with a redirect to the
        provider, which comes back to /oauth/callback)."""
        if not self.form_oauth_configured:
            self.form_error = self.form_oauth_help
            return None
        params = {"type": self.form_type}
        if self.form_id:
            params["connection_id"] = self.form_id
        elif not name:
            self.form_error, self.form_field_errors = "the connection is invalid", {"name": "required"}
            return None
        else:
            params["name"] = name
        self.saving = True
        return _navigate("/oauth/start?" + urlencode(params))

    @rx.event
    def reconnect_from_form(self) -> Any:
        if not self.form_oauth_configured:
            self.form_error = self.form_oauth_help
            return None
        return self.reconnect(self.form_id, self.form_type)

    @rx.event
    def reconnect(self, connection_id: str, type_: str) -> Any:
        return _navigate("/oauth/start?" + urlencode({"type": type_, "connection_id": connection_id}))

    @rx.event
    def choose_tenant(self, connection_id: str) -> Any:
        return _navigate(f"/oauth/tenants/{connection_id}")

    @rx.event
    def announce_connected(self) -> Any:
        """After /oauth/callback sends the browser back here with ?connected=<name>."""
        self.form_open, self.saving = False, False  # the Connect dialog was left for the provider
        name = str(self.router.url.query_parameters.get("connected") or "")
        return rx.toast.success(f"Connected “{name}”") if name else None


def _navigate(path: str) -> Any:
    """A full page load (not client-side routing): /oauth/* are server routes, not pages."""
    return rx.call_script(f"window.location.assign({json.dumps(path)})")


def _oauth_row(c: dict[str, Any], grant: dict[str, Any] | None) -> dict[str, str]:
    """Row badges for OAuth connections: Reconnect needed, or an organisation still to choose."""
    flow = oauth_flows.flow_for(c["type"])
    if flow is None:
        return {"oauth": "", "oauth_status": "", "oauth_message": "", "needs_tenant": ""}
    status = (grant or {}).get("status") or ("ok" if "access_token" in c["secrets_set"] else "not_connected")
    needs_tenant = flow.list_tenants is not None and status == "ok" and not c["config"].get("tenant_id")
    return {"oauth": "true", "oauth_status": status, "oauth_message": str((grant or {}).get("message") or ""),
            "needs_tenant": "true" if needs_tenant else ""}
