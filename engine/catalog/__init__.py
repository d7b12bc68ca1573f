"""Template gallery: ready-made workflows with typed variables (see templates.py, service.py)."""

from engine.catalog.service import (
    categories,
    check_catalog,
    get_template,
    instantiate,
    list_templates,
    missing_connections,
    render_template,
    template_public,
    template_summary,
    validate_variables,
)

__all__ = [
    "categories", "check_catalog", "get_template", "instantiate", "list_templates", "missing_connections",
    "render_template", "template_public", "template_summary", "validate_variables",
]
