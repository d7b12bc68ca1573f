"""State of the template gallery at /templates: search, category filter, preview, "use template"."""

from __future__ import annotations

from typing import Any

import reflex as rx

from engine.errors import FlowMateError, Forbidden, NotFound, ValidationFailed
from flowmate_app.auth import AuthState
from flowmate_app.features.gallery.logic import (
    TRIGGER_LABELS,
    PreviewStep,
    TemplateCard,
    VariableField,
    card_from_summary,
    general_errors,
    preview_steps,
    variable_fields,
)


def _action_titles() -> dict[str, str]:
    from engine.registry import all_actions

    return {name: spec.title for name, spec in all_actions().items()}


class GalleryState(AuthState):
    search: str = ""
    category: str = ""
    categories: list[str] = []
    templates: list[TemplateCard] = []
    load_error: str = ""
    loaded: bool = False

    # The open template (preview, then the variable form).
    dialog_open: bool = False
    mode: str = "preview"
    slug: str = ""
    t_name: str = ""
    t_description: str = ""
    t_category: str = ""
    t_trigger: str = ""
    t_steps: list[PreviewStep] = []
    t_connections: list[str] = []
    fields: list[VariableField] = []
    workflow_name: str = ""
    form_error: str = ""
    form_details: list[str] = []
    creating: bool = False

    _variables: list[dict[str, Any]] = []
    _values: dict[str, str] = {}
    _errors: dict[str, str] = {}
    _connections: list[dict[str, Any]] = []

    @rx.var
    def result_label(self) -> str:
        n = len(self.templates)
        return f"{n} template{'s' if n != 1 else ''}"

    def _refresh(self) -> None:
        from engine.catalog.service import list_templates

        try:
            self.templates = [card_from_summary(s) for s in list_templates(self.search, self.category or None)]
            self.load_error = ""
        except FlowMateError as exc:
            self.templates, self.load_error = [], str(exc)

    @rx.event
    def load(self) -> None:
        from engine.catalog.service import categories

        self.dialog_open = False
        self.categories = categories()
        self._refresh()
        self.loaded = True

    @rx.event
    def set_search(self, value: str) -> None:
        self.search = value
        self._refresh()

    @rx.event
    def set_category(self, value: str) -> None:
        self.category = "" if value in ("", "All") else value
        self._refresh()

    @rx.event
    def clear_filters(self) -> None:
        self.search, self.category = "", ""
        self._refresh()

    # ----------------------------------------------------------------- dialog

    def _sync_fields(self) -> None:
        self.fields = variable_fields(self._variables, self._values, self._errors, self._connections)
        self.form_details = general_errors(self._errors)

    @rx.event
    def open_template(self, slug: str, mode: str = "preview") -> None:
        from engine.catalog.service import get_template, template_public
        from engine.db import session_scope
        from engine.services.connections import list_connections

        try:
            public = template_public(get_template(slug))
        except NotFound:
            self.load_error = "That template no longer exists."
            return
        actor = self.actor()
        self._connections = []
        if actor is not None:
            with session_scope() as session:
                self._connections = list_connections(session, actor)
        self.slug = slug
        self.t_name, self.t_description, self.t_category = public["name"], public["description"], public["category"]
        self.t_trigger = TRIGGER_LABELS.get(public["trigger_type"], public["trigger_type"])
        self.t_steps = preview_steps(public, _action_titles())
        self.t_connections = [f"{c['title']} ({' or '.join(c['types'])})" for c in public.get("connections") or []]
        self._variables = public.get("variables") or []
        self._values, self._errors = {}, {}
        self.workflow_name = public["name"]
        self.form_error = ""
        self.creating = False
        self._sync_fields()
        self.mode = "form" if mode == "form" else "preview"
        self.dialog_open = True

    @rx.event
    def set_dialog_open(self, value: bool) -> None:
        self.dialog_open = value

    @rx.event
    def show_form(self) -> None:
        self.mode = "form"

    @rx.event
    def show_preview(self) -> None:
        self.mode = "preview"

    @rx.event
    def set_variable(self, name: str, value: str) -> None:
        self._set_variable(name, value)

    @rx.event
    def set_variable_bool(self, name: str, value: bool) -> None:
        self._set_variable(name, "true" if value else "false")

    def _set_variable(self, name: str, value: str) -> None:
        self._values = {**self._values, name: value}
        self._errors = {k: v for k, v in self._errors.items() if k != f"variables.{name}"}
        self._sync_fields()

    @rx.event
    def set_workflow_name(self, value: str) -> None:
        self.workflow_name = value

    @rx.event
    def create(self) -> Any:
        """Instantiate the template with the form's values and open the new workflow in the builder."""
        from engine.catalog.service import instantiate, missing_connections
        from engine.db import session_scope

        actor = self.actor()
        if actor is None:
            return rx.redirect("/login?next=%2Ftemplates")
        values = {f.name: f.value for f in self.fields}
        self.creating = True
        yield
        try:
            with session_scope() as session:
                missing = missing_connections(session, actor, self.slug, values)
                wf = instantiate(session, actor, self.slug, values, name=self.workflow_name.strip() or None)
                workflow_id = wf.id
        except ValidationFailed as exc:
            self._errors = {("name" if k == "name" else k): v for k, v in exc.fields.items()}
            self.form_error = exc.message[:1].upper() + exc.message[1:] + "."
            self._sync_fields()
            self.creating = False
            return
        except Forbidden:
            self.form_error = "You have view access to this workspace, so you cannot create workflows."
            self.creating = False
            return
        except FlowMateError as exc:
            self.form_error = str(exc)
            self.creating = False
            return
        self.creating = False
        self.dialog_open = False
        if missing:
            yield rx.toast.warning(f"Workflow created. Add these connections before it runs: {', '.join(missing)}",
                                   duration=10000)
        else:
            yield rx.toast.success("Workflow created from the template")
        yield rx.redirect(f"/workflows/{workflow_id}")
