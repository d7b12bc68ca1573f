"""Imports inside engine/ point down the layers and never form a cycle.

The layer order (engine/AGENTS.md): core (config, db, models, states, registry and the built-in
actions and triggers) → queue → services → executor → scheduler/maintenance → runtime →
worker/app. A
module may import its own layer or any layer below; every import is parsed, including the ones
inside functions, because a function-local import is still a dependency: it only hides it.

``KNOWN_VIOLATIONS`` is an allowlist of edges that are wrong and tolerated (empty since the
composition root, engine.runtime, took over what the queue ↔ executor ↔ metrics ↔ liveness
cycle wired through module globals). A NEW upward import or a new cycle fails this test; an
allowlisted edge that disappears fails it too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"

LAYERS = ["core", "queue", "services", "executor", "maintenance", "runtime", "app"]

#: Modules by layer; a package prefix ("engine.actions") covers everything under it.
LAYER_OF: dict[str, str] = {
    # core: settings, storage, the state machine, plugin registry and the built-in plugins
    "engine": "core",
    "engine.config": "core", "engine.errors": "core", "engine.db": "core", "engine.models": "core",
    "engine.states": "core", "engine.schemas": "core", "engine.crypto": "core", "engine.context": "core",
    "engine.redaction": "core", "engine.logs": "core", "engine.migrate": "core", "engine.priority": "core",
    "engine.expressions": "core", "engine.outbound": "core", "engine.ratelimit": "core",
    "engine.metrics": "core", "engine.definition": "core", "engine.registry": "core",
    "engine.actions": "core", "engine.triggers": "core", "engine.connection_types": "core",
    "engine.catalog.model": "core",
    "engine.catalog.templates": "core", "engine.catalog.flow_templates": "core",
    "engine.audit_events": "core", "engine.auth_limits": "core", "engine.datalimits": "core",
    "engine.jsoncodec": "core", "engine.messaging": "core", "engine.passwords": "core", "engine.storage": "core",
    "engine.region": "core", "engine.bus": "core", "engine.tracing": "core",
    "engine.webhook_signatures": "core", "engine.mail": "core", "engine.oauth.flows": "core",
    "engine.oauth.providers": "core",
    # queue: broker setup, enqueue by actor name, queue depth; liveness beats kept by the broker
    "engine.queue": "queue", "engine.liveness": "queue",
    # services: the one write path
    "engine.services": "services", "engine.catalog": "services", "engine.seed": "services",
    "engine.oauth": "services",  # connect and token refresh write connections
    # executor: runs one run
    "engine.executor": "executor", "engine.flow": "executor",
    # background duties around the executor
    "engine.scheduler": "maintenance", "engine.maintenance": "maintenance", "engine.duties": "maintenance",
    "engine.polling": "maintenance",
    "engine.backup": "maintenance",
    # the composition root: broker, actors, executor, leases, worker threads and duties of a process
    "engine.runtime": "runtime",
    # process entry points
    "engine.worker": "app", "engine.cli": "app",
}

#: (importer, imported) → why it is still allowed. Delete an entry when the edge is gone.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    rel = path.relative_to(ENGINE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ENGINE.rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every engine module ``path`` imports, at module level or inside a function."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from engine import metrics` imports the module engine.metrics, not just `engine`.
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("engine"):
                found.add(name)
    if path.is_relative_to(ENGINE):
        found.discard(module_name(path))
    return found


def layer(module: str) -> str:
    name = module
    while name and (name != "engine" or module == "engine"):  # no catch-all: each module is placed
        if name in LAYER_OF:
            return LAYER_OF[name]
        name = name.rpartition(".")[0]
    raise AssertionError(f"{module} has no layer: add it to LAYER_OF (and to engine/AGENTS.md)")


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return cycles


def test_every_engine_module_has_a_layer() -> None:
    for module in all_modules():
        layer(module)


def test_imports_point_down_the_layers() -> None:
    upward = []
    for importer, targets in graph().items():
        for target in sorted(targets):
            points_up = LAYERS.index(layer(target)) > LAYERS.index(layer(importer))
            if points_up and (importer, target) not in KNOWN_VIOLATIONS:
                upward.append(f"{importer} ({layer(importer)}) imports {target} ({layer(target)})")
    assert not upward, "imports pointing up a layer:\n  " + "\n  ".join(upward)


def test_no_import_cycle_outside_the_allowlist() -> None:
    edges = defaultdict(set)
    for importer, targets in graph().items():
        edges[importer] = {t for t in targets if (importer, t) not in KNOWN_VIOLATIONS}
    cycles = find_cycles(edges)
    assert not cycles, "import cycles among engine modules: " + "; ".join(" ↔ ".join(c) for c in cycles)


def test_allowlist_only_holds_edges_that_still_exist() -> None:
    edges = graph()
    stale = [f"{a} → {b}" for (a, b) in KNOWN_VIOLATIONS if b not in edges.get(a, set())]
    assert not stale, "fixed, so remove from KNOWN_VIOLATIONS: " + ", ".join(stale)


def test_the_checker_sees_function_local_imports_and_cycles(tmp_path: Path) -> None:
    """The parser must not be fooled by an import hidden in a function (it would pass vacuously)."""
    mod = tmp_path / "m.py"
    mod.write_text("def f():\n    from engine.queue import enqueue_run\n    return enqueue_run\n")
    assert imports_of(mod, {"engine.queue": Path("q.py")}) == {"engine.queue"}
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    edges = graph()
    assert "engine.runtime" in edges["engine.cli"]  # a function-local import in the real code
