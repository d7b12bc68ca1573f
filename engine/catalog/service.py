"""Gallery services: list, show, preview and instantiate templates.

``instantiate`` is the one write path: it validates every variable (field paths such as
``variables.report_hour``), renders the definition, and creates the workflow through
``engine.services.workflows.create_workflow`` in the caller's transaction — so a refusal writes
nothing, and a success writes the workflow and its audit row together.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from engine.catalog.flow_templates import FLOW_TEMPLATES
from engine.catalog.model import Template, Values, VariableError
from engine.catalog.templates import TEMPLATES as FLAT_TEMPLATES
from engine.definition import validate_definition
from engine.errors import NotFound, ValidationFailed
from engine.models import Connection, Role, Workflow
from engine.services.actor import Actor

#: The whole gallery: the flat templates and those that branch, loop and wait.
TEMPLATES: tuple[Template, ...] = (*FLAT_TEMPLATES, *FLOW_TEMPLATES)
_BY_SLUG: dict[str, Template] = {t.slug: t for t in TEMPLATES}
if len(_BY_SLUG) != len(TEMPLATES):  # pragma: no cover - a packaging mistake, caught at import
    raise RuntimeError("two templates share a slug")


def categories() -> list[str]:
    return sorted({t.category for t in TEMPLATES})


def get_template(slug: str) -> Template:
    template = _BY_SLUG.get(slug)
    if template is None:
        raise NotFound(f"no template {slug!r}")
    return template


def _matches(template: Template, words: list[str]) -> bool:
    haystack = " ".join([template.slug, template.name, template.description, template.category, *template.tags,
                         *template.connection_types()]).lower()
    return all(word in haystack for word in words)


def list_templates(search: str | None = None, category: str | None = None) -> list[dict[str, Any]]:
    """Summaries for the gallery, filtered by free-text search (all words must match) and category."""
    words = (search or "").lower().split()
    wanted = (category or "").strip().lower()
    return [template_summary(t) for t in TEMPLATES
            if (not wanted or t.category.lower() == wanted) and _matches(t, words)]


def template_summary(template: Template) -> dict[str, Any]:
    preview = render_template(template, template.defaults())
    return {
        "slug": template.slug, "name": template.name, "description": template.description,
        "category": template.category, "tags": list(template.tags),
        "connection_types": template.connection_types(),
        "trigger_type": preview["trigger"]["type"],
        "step_count": len(preview["steps"]),
    }


def template_public(template: Template, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the gallery page shows: variables form, needed connections, step preview."""
    values = validate_variables(template, variables or {})
    definition = render_template(template, values)
    return {
        **template_summary(template),
        "variables": [v.public() for v in template.variables],
        "connections": template.connections(),
        "sample_payload": template.sample_payload,
        "definition": definition,
        "steps": [{"key": s["key"], "action": s["action"], "name": s.get("name", ""), "when": s.get("when")}
                  for s in definition["steps"]],
    }


def validate_variables(template: Template, raw: dict[str, Any] | None) -> dict[str, Any]:
    """Typed values for every variable (defaults filled in); ValidationFailed names each bad field."""
    if raw is not None and not isinstance(raw, dict):
        raise ValidationFailed("variables must be an object", {"variables": "expected an object"})
    raw = dict(raw or {})
    fields: dict[str, str] = {}
    for name in raw:
        if template.variable(name) is None:
            fields[f"variables.{name}"] = f"unknown variable for template {template.slug!r}"
    values: dict[str, Any] = {}
    for var in template.variables:
        try:
            values[var.name] = var.parse(raw.get(var.name, var.default))
        except VariableError as exc:
            fields[f"variables.{var.name}"] = str(exc)
    if fields:
        raise ValidationFailed("some template variables are invalid", fields)
    return values


def render_template(template: Template, values: dict[str, Any]) -> dict[str, Any]:
    """The workflow definition for already-validated values (checked by validate_definition)."""
    definition = template.build(Values(values))
    validate_definition(definition)  # a template bug must never reach the database
    return definition


def _check_connections(session: Session, actor: Actor, template: Template, values: dict[str, Any]) -> list[str]:
    """Refuse a named connection of the wrong type; return the names that do not exist yet."""
    missing: list[str] = []
    fields: dict[str, str] = {}
    for var in template.variables:
        if var.type != "connection":
            continue
        name = values[var.name]
        conn = session.exec(select(Connection).where(Connection.workspace_id == actor.workspace_id,
                                                     (Connection.name == name) | (Connection.id == name))).first()
        if conn is None:
            missing.append(name)
        elif conn.type not in var.connection_types:
            fields[f"variables.{var.name}"] = (f"connection {name!r} is a {conn.type} connection; "
                                               f"expected {' or '.join(var.connection_types)}")
    if fields:
        raise ValidationFailed("a chosen connection has the wrong type", fields)
    return sorted(set(missing))


def instantiate(session: Session, actor: Actor, slug: str, variables: dict[str, Any] | None = None,
                *, name: str | None = None) -> Workflow:
    """Create a workflow from a template in the actor's workspace and return it.

    Connections that do not exist yet are allowed (the user may create them next; runs fail
    with a clear message until then) — :func:`missing_connections` lists them for the UI.
    """
    actor.require(Role.editor)  # before variable checks: a viewer learns nothing but "not allowed"
    template = get_template(slug)
    values = validate_variables(template, variables)
    _check_connections(session, actor, template, values)
    definition = render_template(template, values)
    if name is not None:
        definition["name"] = name
    from engine.services.workflows import create_workflow

    return create_workflow(session, actor, definition)


def missing_connections(session: Session, actor: Actor, slug: str,
                        variables: dict[str, Any] | None = None) -> list[str]:
    """Connection names the template (with these variables) needs that the workspace lacks."""
    template = get_template(slug)
    return _check_connections(session, actor, template, validate_variables(template, variables))


def check_catalog() -> dict[str, Any]:
    """Render every template with its defaults (used by `flowmate seed` to prove the catalog is sound)."""
    for template in TEMPLATES:
        render_template(template, validate_variables(template, {}))
    return {"count": len(TEMPLATES), "slugs": [t.slug for t in TEMPLATES], "categories": categories()}
