"""Run in a fresh interpreter by test_plugins.py, after the example plugin is installed.

Each check prints one JSON line; a failed check raises, so the subprocess exits non-zero and the
test shows the traceback. A fresh process matters: plugins are discovered once, at start-up.
"""

from __future__ import annotations

import json
import sys


def registry() -> dict:
    from engine.registry import all_actions, all_connection_types
    from engine.services.connections import CONNECTION_TYPES

    spec = all_actions()["example.greeting"]
    conn_type = all_connection_types()["greeting_studio"]
    return {"package": spec.package, "connection_types": list(spec.connection_types),
            "side_effect": spec.side_effect, "config_fields": sorted(spec.config_schema()["properties"]),
            "connection_package": conn_type.package, "data_location": conn_type.data_location,
            "in_service_types": "greeting_studio" in CONNECTION_TYPES}


def builder() -> dict:
    """The step picker lists the action and its form's fields are generated; the page compiles."""
    from reflex.compiler import compiler

    from flowmate_app.features.builder import draft as d
    from flowmate_app.features.builder.views import action_options, step_views
    from flowmate_app.flowmate_app import app

    catalogue = d.action_catalogue()
    picker = [o.name for o in action_options(catalogue)]
    draft = d.draft_from_definition({"name": "Cards", "steps": [
        {"key": "card", "action": "example.greeting", "config": {"connection": "studio", "name": "Ana"}}]},
        catalogue)
    views = step_views(draft, catalogue, {}, [{"name": "studio", "type": "greeting_studio", "id": "c1"}])
    fields = [f.name for f in [*views[0].fields, *views[0].optional_fields]]
    definition, errors = d.to_definition(draft, catalogue)
    route = next(r for r in app._unevaluated_pages if r.startswith("workflows/"))
    component = compiler.compile_unevaluated_page(route, app._unevaluated_pages[route])
    return {"in_picker": "example.greeting" in picker, "fields": sorted(fields), "errors": errors,
            "title": views[0].action_title, "rendered": bool(component.render()),
            "definition_config": definition["steps"][0]["config"]}


def run(database_url: str) -> dict:
    """A workflow using the plugin's action and connection runs to success."""
    from engine.db import session_scope
    from engine.executor import Executor
    from engine.migrate import upgrade
    from engine.models import Run
    from engine.services.accounts import create_workspace
    from engine.services.actor import Actor
    from engine.services.connections import create_connection
    from engine.services.runs import run_public, start_manual_run
    from engine.services.workflows import create_workflow

    upgrade(database_url)
    with session_scope() as session:
        ws = create_workspace(session, "Plugin test")
        actor = Actor.system(ws.id)
        create_connection(session, actor, {"type": "greeting_studio", "name": "studio",
                                           "config": {"sign_off": "the Studio"}, "secret": {"api_key": "k-123"}})
        wf = create_workflow(session, actor, {"name": "Cards", "steps": [
            {"key": "card", "action": "example.greeting",
             "config": {"connection": "studio", "name": "{{ trigger.payload.name }}", "shout": True}}]})
        wf_id = wf.id
    started = start_manual_run(actor, wf_id, {"name": "Ana"})
    outcome = Executor().execute(started.id)
    with session_scope() as session:
        shown = run_public(session, session.get(Run, started.id))
    return {"outcome": str(outcome.status), "status": shown["status"], "output": shown["steps"][0]["output"]}


if __name__ == "__main__":
    check = sys.argv[1]
    result = {"registry": registry, "builder": builder}.get(check)
    print(json.dumps(result() if result else run(sys.argv[2])))
