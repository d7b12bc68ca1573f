"""State of the workflow builder at /workflows/[id] (and /workflows/new for a blank workflow).

One flat state per feature, calling engine services (see AGENTS.md). The editable workflow lives in a backend-only
:class:`Draft`; every handler edits it through the pure functions in ``draft.py`` and then calls
``_sync()``, which rebuilds what the page shows (views.py). Saving and test runs go through
engine/services; the page never touches SQL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import reflex as rx

from engine.errors import FlowMateError, Forbidden, NotFound, ValidationFailed
from engine.states import TERMINAL_RUN_VALUES
from flowmate_app import live
from flowmate_app.auth import AuthState
from flowmate_app.features.builder import draft as d
from flowmate_app.features.builder import tree
from flowmate_app.features.builder.views import (
    ActionOption,
    RunStepView,
    StepView,
    action_options,
    friendly,
    run_step_views,
    step_views,
    unplaced_errors,
)

FINISHED = TERMINAL_RUN_VALUES
POLL_LIMIT_S = 15 * 60
SAMPLE_PAYLOAD = '{\n  "email": "ana@example.com.au",\n  "name": "Ana Nguyen",\n  "amount": 120\n}'


def _workflow_id_from_path(path: str) -> str:
    parts = [p for p in (path or "").split("/") if p]
    return parts[1] if len(parts) >= 2 and parts[0] == "workflows" else ""


def _load_workflow(actor: Any, workflow_id: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    from engine.db import session_scope
    from engine.services import workflows
    from engine.services.connections import list_connections

    with session_scope() as session:
        wf = workflows.get_workflow(session, actor, workflow_id)
        public = workflows.workflow_public(session, wf)
        definition = workflows.export_definition(session, actor, workflow_id)
        connections = list_connections(session, actor)
    return public, definition, connections


def _list_connections(actor: Any) -> list[dict[str, Any]]:
    from engine.db import session_scope
    from engine.services.connections import list_connections

    with session_scope() as session:
        return list_connections(session, actor)


def _fetch_run(actor: Any, run_id: str) -> dict[str, Any]:
    from engine.db import session_scope
    from engine.services.runs import get_run, run_public

    with session_scope() as session:
        return run_public(session, get_run(session, actor, run_id))


def _start_test_run(actor: Any, workflow_id: str, sample: Any) -> str:
    """Start a test run of the saved workflow (the service checks the role and shapes the
    payload like the workflow's real trigger)."""
    from engine.services.runs import start_test_run

    return start_test_run(actor, workflow_id, sample).id


class BuilderState(AuthState):
    """Everything the builder page shows and does."""

    workflow_id: str = ""
    is_new: bool = False
    loaded: bool = False
    load_error: str = ""
    version: int = 0
    dirty: bool = False
    saving: bool = False
    banner_error: str = ""
    banner_details: list[str] = []
    conflict: bool = False
    errors: dict[str, str] = {}

    # Workflow settings.
    name: str = ""
    description: str = ""
    timezone: str = "UTC"
    enabled: bool = True
    timezone_choices: list[str] = list(d.COMMON_TIMEZONES)

    # Trigger.
    trigger_type: str = "manual"
    webhook_url: str = ""
    webhook_methods: list[str] = ["POST"]
    auth_type: str = "none"
    auth_header_name: str = ""
    auth_username: str = ""
    auth_token: str = ""
    auth_password: str = ""
    auth_secret: str = ""
    webhook_events: str = ""
    secret_set: bool = False
    #: A polling trigger's promise (first poll = starting point) and how its polls went.
    poll_note: str = ""
    poll_status: str = ""
    poll_error: str = ""
    cron_expression: str = ""
    cron_description: str = ""
    cron_next: list[str] = []
    cron_error: str = ""

    # Steps.
    steps: list[StepView] = []
    actions: list[ActionOption] = []
    connection_count: int = 0

    # Test run.
    sample_payload: str = SAMPLE_PAYLOAD
    sample_error: str = ""
    test_run_id: str = ""
    test_status: str = ""
    test_error: str = ""
    test_steps: list[RunStepView] = []
    test_busy: bool = False

    _draft: d.Draft | None = None
    _saved: dict[str, Any] = {}
    _connections: list[dict[str, Any]] = []
    _outputs: dict[str, Any] = {}

    # ----------------------------------------------------------------- derived

    @rx.var
    def error_count(self) -> int:
        return len(self.errors)

    @rx.var
    def name_error(self) -> str:
        return friendly(self.errors.get("name", ""))

    @rx.var
    def timezone_error(self) -> str:
        return friendly(self.errors.get("timezone", ""))

    @rx.var
    def trigger_error(self) -> str:
        msgs = [f"{k.split('.')[-1]}: {friendly(v)}" for k, v in self.errors.items()
                if k.startswith("trigger.config.auth") or k.startswith("trigger.config.events")
                or k == "trigger.config.methods"]
        return "; ".join(msgs)

    @rx.var
    def expression_error(self) -> str:
        return self.cron_error or friendly(self.errors.get("trigger.config.expression", ""))

    @rx.var
    def read_only(self) -> bool:
        return not self.can_edit

    # ----------------------------------------------------------------- helpers

    def _catalogue(self) -> dict[str, d.ActionInfo]:
        return d.action_catalogue()

    def _sample(self) -> Any:
        value, _error = d.parse_sample(self.sample_payload)
        return value

    def _sync(self, *, check_dirty: bool = True) -> None:
        """Rebuild every view var from the draft (after any edit)."""
        draft = self._draft
        if draft is None:
            return
        # Edits mutate the draft in place; assigning it marks the backend var dirty so any state
        # manager (memory, disk, Redis) persists it.
        self._draft = draft
        catalogue = self._catalogue()
        self.name, self.description, self.timezone, self.enabled = (
            draft.name, draft.description, draft.timezone, draft.enabled)
        self.timezone_choices = d.timezone_options(draft.timezone)
        self.trigger_type = draft.trigger_type
        self.webhook_methods = list(draft.webhook_methods)
        self.auth_type, self.auth_header_name, self.auth_username = (
            draft.auth_type, draft.auth_header_name, draft.auth_username)
        self.auth_token, self.auth_password, self.auth_secret = draft.auth_token, draft.auth_password, draft.auth_secret
        self.webhook_events = draft.webhook_events
        self.cron_expression = draft.cron_expression
        if draft.trigger_type == "cron":
            self.cron_description, self.cron_next, self.cron_error = d.cron_preview(
                draft.cron_expression, draft.timezone, datetime.now(UTC))
        self.steps = step_views(draft, catalogue, self.errors, self._connections, self._sample(), self._outputs)
        if check_dirty:
            definition, _errors = d.to_definition(draft, catalogue)
            secrets_typed = bool(draft.auth_token or draft.auth_password or draft.auth_secret)
            self.dirty = self.is_new or secrets_typed or definition != self._saved

    def _edited(self) -> None:
        """After an edit: stale errors for moved things would point at the wrong place."""
        self.conflict = False
        self._sync()

    # ----------------------------------------------------------------- loading

    @rx.event
    def load(self) -> Any:
        """on_load: read the workflow (or start a blank one at /workflows/new)."""
        self.loaded = False
        self.load_error = self.banner_error = self.test_run_id = self.test_status = self.test_error = ""
        self.banner_details, self.errors, self.test_steps, self._outputs = [], {}, [], {}
        self.conflict = self.saving = self.test_busy = False
        self.actions = action_options(self._catalogue())
        workflow_id = _workflow_id_from_path(self.router.url.path)
        actor = self.actor()
        if actor is None:
            return None
        self.workflow_id = workflow_id
        self.is_new = workflow_id == "new"
        if self.is_new:
            self._connections = _list_connections(actor)
            self._draft = d.Draft(name="Untitled workflow", timezone=self.workspace_timezone or "UTC",
                                  trigger_type="webhook")
            self.version, self.webhook_url, self.secret_set, self._saved = 0, "", False, {}
        else:
            try:
                public, definition, self._connections = _load_workflow(actor, workflow_id)
            except NotFound:
                self.load_error = "This workflow does not exist in your workspace (or it was deleted)."
                return None
            self._draft = d.draft_from_definition(definition, self._catalogue())
            self._saved = d.to_definition(self._draft, self._catalogue())[0]
            self._apply_public(public)
        self.connection_count = len(self._connections)
        self.sample_payload = SAMPLE_PAYLOAD if self._draft.trigger_type != "cron" else "{}"
        self.sample_error = ""
        self._sync()
        self.loaded = True
        return None

    def _apply_public(self, public: dict[str, Any]) -> None:
        from engine.config import get_settings

        self.version = int(public.get("version") or 0)
        trigger = public.get("trigger") or {}
        path = public.get("webhook_path") or trigger.get("webhook_path") or ""
        self.webhook_url = get_settings().base_url.rstrip("/") + path if path else ""
        self.secret_set = bool(trigger.get("secret_set"))
        self.poll_note = str(trigger.get("note") or "") if trigger.get("polling") else ""
        self.poll_status, self.poll_error = _poll_lines(str(public.get("id") or "")) if self.poll_note else ("", "")

    # ----------------------------------------------------------------- workflow settings

    @rx.event
    def set_name(self, value: str) -> None:
        if self._draft:
            self._draft.name = value
            self._edited()

    @rx.event
    def set_description(self, value: str) -> None:
        if self._draft:
            self._draft.description = value
            self._edited()

    @rx.event
    def set_timezone(self, value: str) -> None:
        if self._draft:
            self._draft.timezone = value
            self._edited()

    @rx.event
    def set_enabled(self, value: bool) -> None:
        if self._draft:
            self._draft.enabled = bool(value)
            self._edited()

    # ----------------------------------------------------------------- trigger

    @rx.event
    def set_trigger_type(self, value: str | list[str]) -> None:
        value = value[0] if isinstance(value, list) and value else value
        if self._draft and isinstance(value, str) and value in d.TRIGGER_TYPES:
            self._draft.trigger_type = value
            if value == "cron" and not self._draft.cron_expression:
                self._draft.cron_expression = d.DEFAULT_CRON
            self._edited()

    @rx.event
    def toggle_method(self, method: str, checked: bool) -> None:
        if not self._draft:
            return
        methods = [m for m in self._draft.webhook_methods if m != method]
        if checked:
            methods.append(method)
        self._draft.webhook_methods = [m for m in ("POST", "PUT", "GET") if m in methods] or ["POST"]
        self._edited()

    @rx.event
    def set_auth_type(self, value: str) -> None:
        if self._draft and value in d.AUTH_TYPES:
            self._draft.auth_type = value
            self._edited()

    @rx.event
    def set_auth_field(self, name: str, value: str) -> None:
        if self._draft and name in ("header_name", "username", "token", "password", "secret"):
            setattr(self._draft, f"auth_{name}", value)
            self._edited()

    @rx.event
    def set_webhook_events(self, value: str) -> None:
        if self._draft:
            self._draft.webhook_events = value
            self._edited()

    @rx.event
    def set_cron_expression(self, value: str) -> None:
        if self._draft:
            self._draft.cron_expression = value
            self.errors = {k: v for k, v in self.errors.items() if k != "trigger.config.expression"}
            self._edited()

    @rx.event
    def copy_webhook_url(self) -> Any:
        return [rx.set_clipboard(self.webhook_url), rx.toast.success("Webhook URL copied")]

    # ----------------------------------------------------------------- steps

    @rx.event
    def add_step(self, action: str) -> Any:
        if not self._draft or action not in self._catalogue():
            return None
        step = tree.add_step(self._draft, action, tree.ROOT, self._catalogue())
        if step is None:
            return None
        self.errors = {}
        self._edited()
        return rx.scroll_to(f"step-{step.uid}")

    @rx.event
    def move_step(self, uid: str, delta: int) -> Any:
        if self._draft and tree.move_step(self._draft, uid, int(delta)):
            self.errors = {}
            self._edited()
            # Keep keyboard focus on the button that was pressed, now in its new place.
            direction = "up" if int(delta) < 0 else "down"
            return rx.call_script(
                f"setTimeout(() => document.getElementById('move-{direction}-{uid}')?.focus(), 50)")
        return None

    @rx.event
    def remove_step(self, uid: str) -> None:
        if self._draft and tree.remove_step(self._draft, uid):
            self.errors = {}
            self._edited()

    @rx.event
    def set_field(self, uid: str, name: str, value: str) -> None:
        self._set_field(uid, name, value)

    @rx.event
    def set_field_bool(self, uid: str, name: str, value: bool) -> None:
        self._set_field(uid, name, "true" if value else "false")

    def _set_field(self, uid: str, name: str, value: str) -> None:
        if self._draft and tree.set_step_field(self._draft, uid, name, value):
            found = tree.find_step(self._draft, uid)
            if found is not None:
                loc = found[0]
                info = self._catalogue().get(found[1].action)
                spec = info.field(name) if info else None
                path = f"{loc}.config.{name}"
                self.errors = {k: v for k, v in self.errors.items() if not (k == path or k.startswith(path + "."))}
                if spec is not None and spec.kind in ("json", "any"):
                    from flowmate_app.features.builder.schema_form import json_error

                    live = json_error(spec, value)
                    if live:
                        self.errors = {**self.errors, path: live}
            self._edited()

    @rx.event
    def insert_reference(self, uid: str, name: str, reference: str) -> Any:
        if not self._draft:
            return None
        found = tree.find_step(self._draft, uid)
        if found is None:
            return None
        step = found[1]
        if name == "__when__":
            step.when = d.insert_reference(step.when, reference)
        else:
            step.values[name] = d.insert_reference(step.values.get(name, ""), reference)
        self._edited()
        element = f"when-{uid}" if name == "__when__" else f"f-{uid}-{name}"
        return rx.call_script(f"setTimeout(() => document.getElementById('{element}')?.focus(), 50)")

    @rx.event
    def set_step_attr(self, uid: str, attr: str, value: str) -> None:
        """Key, name, when, timeout and retry settings of a step."""
        if not self._draft:
            return
        found = tree.find_step(self._draft, uid)
        if found is None:
            return
        loc, step = found
        if attr in ("key", "name", "when", "timeout_s"):
            if attr == "key":
                value = "_".join(value.strip().lower().replace("-", " ").split(" "))
            setattr(step, attr, value)
            path = f"{loc}.{attr}"
        elif attr.startswith("retry."):
            step.retry[attr.split(".", 1)[1]] = value
            path = f"{loc}.retry"
        else:
            return
        self.errors = {k: v for k, v in self.errors.items() if not (k == path or k.startswith(path + "."))}
        self._edited()

    # ----------------------------------------------------------------- save

    def _save(self) -> bool:
        """Validate and write the draft; True when saved. Errors go next to their fields."""
        from engine.db import session_scope
        from engine.definition import validate_definition
        from engine.services import workflows

        draft = self._draft
        actor = self.actor()
        if draft is None or actor is None:
            return False
        self.banner_error, self.banner_details, self.conflict = "", [], False
        definition, local = d.to_definition(draft, self._catalogue())
        service_errors: dict[str, str] = {}
        try:
            validate_definition(definition)
        except ValidationFailed as exc:
            service_errors = dict(exc.fields)
            # Shape errors (a bad key) stop the service before it checks each action's config;
            # check those too so every problem shows at once.
            service_errors = {**d.config_errors(definition), **service_errors}
        if local or service_errors:
            self._show_errors({**service_errors, **local})
            return False
        try:
            with session_scope() as session:
                if self.is_new:
                    wf = workflows.create_workflow(session, actor, definition)
                else:
                    wf = workflows.update_workflow(session, actor, self.workflow_id, definition,
                                                   expected_version=self.version)
                public = workflows.workflow_public(session, wf)
        except ValidationFailed as exc:
            if "version" in exc.fields:
                self.conflict = True
                self.banner_error = ("Someone else saved this workflow while you were editing it "
                                     f"({exc.fields['version']}). Your changes are not saved: reload to get "
                                     "their version, then make your changes again.")
                return False
            self._show_errors(exc.fields, exc.message)
            return False
        except Forbidden:
            self.banner_error = "You have view access to this workspace, so you cannot change workflows."
            return False
        except FlowMateError as exc:
            self.banner_error = str(exc)
            return False
        self.errors = {}
        self.workflow_id = public["id"]
        self._apply_public(public)
        d.clear_secrets(draft)
        self._saved = d.to_definition(draft, self._catalogue())[0]
        self._sync()
        return True

    def _show_errors(self, fields: dict[str, str], message: str = "") -> None:
        self.errors = fields
        count = len(fields)
        self.banner_error = (message[:1].upper() + message[1:] + ". " if message else "") + (
            f"Fix the {count} highlighted field{'s' if count != 1 else ''} and save again.")
        self.banner_details = unplaced_errors(fields)
        self._sync()

    @rx.event
    def save(self) -> Any:
        was_new = self.is_new
        self.saving = True
        yield
        try:
            saved = self._save()
        finally:
            self.saving = False
        if not saved:
            yield rx.toast.error("Not saved: see the messages on the page")
            return
        if was_new:
            self.is_new = False
            yield rx.redirect(f"/workflows/{self.workflow_id}")
            return
        yield rx.toast.success(f"Saved · version {self.version}")

    @rx.event
    def reload(self) -> Any:
        return BuilderState.load

    # ----------------------------------------------------------------- test run

    @rx.event
    def set_sample_payload(self, value: str) -> None:
        self.sample_payload = value
        _value, self.sample_error = d.parse_sample(value)
        self._sync(check_dirty=False)

    @rx.event
    def start_test_run(self) -> Any:
        """Save when needed, start a run of the saved workflow, and watch it live."""
        sample, error = d.parse_sample(self.sample_payload)
        if error:
            self.sample_error = error
            return None
        if self.dirty or self.is_new:
            was_new = self.is_new
            if not self._save():
                return rx.toast.error("Fix the highlighted fields before a test run")
            self.is_new = False
            if was_new:
                return rx.redirect(f"/workflows/{self.workflow_id}")
        actor = self.actor()
        if actor is None:
            return None
        try:
            run_id = _start_test_run(actor, self.workflow_id, sample)
        except Forbidden:
            self.test_error = "You have view access, so you cannot start runs."
            return None
        except FlowMateError as exc:
            self.test_error = str(exc)
            return None
        self.test_run_id, self.test_status, self.test_error = run_id, "queued", ""
        self.test_steps = [RunStepView(key=s.key, title=s.title, status="pending") for s in self.steps]
        self.test_busy = True
        return BuilderState.watch_test_run

    @rx.event(background=True)
    async def watch_test_run(self) -> None:
        """Poll the run while it is in flight, updating each step's status, input and output."""
        async with self:
            run_id = self.test_run_id
            actor = self.actor()
        if not run_id or actor is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + POLL_LIMIT_S
        # Live: the run's step and run changes wake this loop (flowmate_app/live.py); the wait's
        # timeout is the fallback read in case a message was lost.
        sub = live.HUB.open(actor.workspace_id)
        try:
            while loop.time() < deadline:
                try:
                    run = await asyncio.to_thread(_fetch_run, actor, run_id)
                except FlowMateError as exc:
                    async with self:
                        self.test_error, self.test_busy = str(exc), False
                    return
                async with self:
                    if self.test_run_id != run_id:
                        return  # a newer test run took over
                    self.test_status = run["status"]
                    self.test_error = run.get("error") or ""
                    self.test_steps = run_step_views(run, self._catalogue())
                    self._outputs = {s["key"]: s["output"] for s in run["steps"] if s.get("output") is not None}
                    if run["status"] in FINISHED:
                        self.test_busy = False
                        self._sync(check_dirty=False)
                        return
                await live.next_change(sub, run_id)
        finally:
            live.HUB.close(sub)
        async with self:
            self.test_busy = False


def _poll_lines(workflow_id: str) -> tuple[str, str]:
    """What the builder says about a polling trigger's polls: (status line, last error)."""
    from engine.polling import poll_status

    status = poll_status(workflow_id) if workflow_id else None
    if status is None:
        return "Not polled yet: the first poll records what is already there and starts no runs.", ""
    line = (f"Starting point recorded {status['baseline_at'][:16].replace('T', ' ')} UTC; "
            f"{status['runs_started']} run(s) started since." if status["baseline_at"]
            else "No starting point yet: the first successful poll records it and starts no runs.")
    if status["last_polled_at"]:
        line += f" Last checked {status['last_polled_at'][:16].replace('T', ' ')} UTC."
    error = f"The last poll failed ({status['failures']}×, backing off): {status['last_error']}" \
        if status["failures"] else ""
    return line, error
