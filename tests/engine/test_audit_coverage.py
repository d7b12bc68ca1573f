"""Every function of the one write path (``engine.services``, plus the executor and scheduler)
that writes to the database writes an audit row, unless it is a deliberate exception below.

The test reads the source (it does not need to call anything), so a service module added later
is covered automatically: it walks the ``engine.services`` package, finds each public function
that writes (``session.add/delete``, ``insert/update/delete`` statements, directly or through
another function it calls) and checks that it, or something it calls, records an audit row
(``audit.record*``). It also checks that every action name recorded is listed in
``engine/audit_events.py``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path

import engine.services
from engine.audit_events import EVENTS

EXTRA_MODULES = ("engine.executor", "engine.scheduler")

#: Functions that write without an audit row, on purpose. "module:function" → why.
EXCEPTIONS: dict[str, str] = {
    "engine.executor:*": "run and step state changes: the run itself (steps, inputs, outputs, errors, attempts) is "
                         "the record, kept per run on the Runs page; auditing each would double every write",
    "engine.services.approvals:create": "the executor records a waiting approval step: the run's step is the record; "
                                        "the decision (approve/reject) is audited",
    "engine.services.approvals:expire": "a timed-out approval step: the run's failed or continued step is the record",
    "engine.services.waits:register": "the executor records a resume URL of a run's step: the run is the record",
    "engine.services.waits:expire": "a timed-out wait step: the run's step is the record",
    "engine.services.waits:resume": "a POST to a resume URL, like a webhook call: the resumed step's output is the "
                                    "record (an audit row per call would let anyone with the URL fill the trail)",
    "engine.services.wakeups:wake": "moves a waiting run's next attempt to now; the change that woke it is audited",
    "engine.services.wakeups:wake_now": "the same, on a Core connection",
    "engine.scheduler:tick": "cron firing moves next_fire_at and creates runs; each run is its own record",
    "engine.services.runs:create_webhook_run": "the webhook intake hot path: the run row is the record (trigger "
                                                "payload, time); an audit row per request would halve throughput",
    "engine.services.runs:expire_idempotency_keys": "housekeeping: forgets 24-hour-old webhook replay keys",
    "engine.services.usage:add_usage": "usage counters, not a change anyone makes",
    "engine.services.usage:flush_usage": "usage counters, not a change anyone makes",
    "engine.services.usage:UsageBuffer.flush": "usage counters, not a change anyone makes",
    "engine.services.audit_stream:deliver_streams": "advances the delivery cursor of audit streaming (the rows "
                                                    "delivered are audit rows already)",
    "engine.services.audit_stream:deliver_once": "the same, for one stream",
    "engine.services.account_sessions:touch": "a session's last-seen time, device and IP (at most once a minute); "
                                              "not a change anyone makes",
    "engine.services.accounts:resolve_token": "an API token's last-used stamp (at most once a minute)",
    "engine.services.batch_delete:delete_in_batches": "the bounded-batch delete primitive; its callers (workspace "
                                                      "deletion, retention) record the audit row with the counts",
    "engine.services.batch_delete:delete_runs_in_batches": "the same, for runs with their step runs",
    "engine.services.audit:prune_chain": "retention's delete of the oldest audit rows; its caller records "
                                         "retention.prune with the counts",
    "engine.services.erasure:find_subject": "the dry run: counts only (it shares _scan with erase_subject, whose "
                                            "write=True pass records subject.erase)",
    "engine.services.exports:run_export_duty": "the export builder's background loop; the request (export.request) "
                                               "and each download (export.download) are audited",
    "engine.services.exports:claim_next": "takes an export job's lease (job bookkeeping)",
    "engine.services.exports:claim_next_id": "the same, for the CLI's own in-process export",
    "engine.services.exports:build_export": "writes the job's progress, file and status; the request is audited",
    "engine.services.exports:expire_exports": "deletes a finished export's file when its 24-hour link runs out "
                                              "(the job row stays, marked expired)",
    "engine.services.system_mail:queue_mail": "the outbox row of a system mail, written inside the action that "
                                              "sends it, which records the audit row (invitation, reset, verification)",
    "engine.services.connection_alerts:reconnect_needed": "only the outbox rows of the owners' alert mail; the "
    "status change it reports is audited (connection.reconnect_needed) by engine.oauth.tokens",
    "engine.services.mfa:forget_user": "removes a deleted account's second factor; delete_account records "
                                       "account.delete for it",
    "engine.services.mfa:check_code": "moves the TOTP replay step forward (a recovery code's use is audited in "
                                      "_use_recovery); sign-in records auth.login / auth.mfa_failed around it",
    "engine.services.system_mail:deliver_queued": "the mail job's delivery status and attempts on its outbox row",
}

WRITE_METHODS = {"add", "add_all", "delete", "merge"}
WRITE_CONSTRUCTS = {"update", "delete", "insert", "pg_insert", "sqlite_insert"}
AUDIT_CALLS = {"record", "record_as", "record_for_user", "record_session_switch", "_append", "record_test"}
ACTION_ARG = {"record": 2, "record_as": 3, "record_for_user": 2}


@dataclass
class Fn:
    module: str
    name: str
    writes: bool = False
    audits: bool = False
    calls: set[tuple[str, str]] = field(default_factory=set)
    actions: list[tuple[str, int]] = field(default_factory=list)


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(engine.services.__path__, "engine.services.")]
    return sorted(names) + list(EXTRA_MODULES)


def _imports(tree: ast.Module, module: str) -> dict[str, tuple[str, str | None]]:
    """local name → (module, function or None for a module alias)."""
    out: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("engine"):
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if importlib.util.find_spec(node.module) and _is_module(target):
                    out[alias.asname or alias.name] = (target, None)
                else:
                    out[alias.asname or alias.name] = (node.module, alias.name)
    return out


def _is_module(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except (ImportError, ValueError):
        return False


def _analyse(module: str) -> dict[tuple[str, str], Fn]:
    path = Path(importlib.import_module(module).__file__)
    tree = ast.parse(path.read_text())
    imports = _imports(tree, module)
    fns: dict[tuple[str, str], Fn] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        bodies = [node] if not isinstance(node, ast.ClassDef) else [
            n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for fn_node in bodies:
            name = fn_node.name if fn_node is node else f"{node.name}.{fn_node.name}"
            fn = Fn(module, name)
            for call in (n for n in ast.walk(fn_node) if isinstance(n, ast.Call)):
                f = call.func
                if isinstance(f, ast.Attribute):
                    if f.attr in WRITE_METHODS and isinstance(f.value, ast.Name) and f.value.id in ("session", "s"):
                        fn.writes = True
                    if f.attr in AUDIT_CALLS:
                        fn.audits = True
                        _collect_action(fn, call, f.attr)
                    if isinstance(f.value, ast.Name) and f.value.id in imports:
                        mod, func = imports[f.value.id]
                        if func is None:
                            fn.calls.add((mod, f.attr))
                elif isinstance(f, ast.Name):
                    if f.id in WRITE_CONSTRUCTS:
                        fn.writes = True
                    if f.id in AUDIT_CALLS:
                        fn.audits = True
                        _collect_action(fn, call, f.id)
                    if f.id in imports and imports[f.id][1] is not None:
                        fn.calls.add((imports[f.id][0], imports[f.id][1]))
                    else:
                        fn.calls.add((module, f.id))
            fns[(module, name)] = fn
    return fns


def _collect_action(fn: Fn, call: ast.Call, name: str) -> None:
    index = ACTION_ARG.get(name)
    if index is None or len(call.args) <= index:
        return
    for node in ast.walk(call.args[index]):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            fn.actions.append((node.value, call.lineno))


def _all() -> dict[tuple[str, str], Fn]:
    fns: dict[tuple[str, str], Fn] = {}
    for module in _modules():
        fns.update(_analyse(module))
    return fns


def _closure(fns: dict[tuple[str, str], Fn], attr: str) -> dict[tuple[str, str], bool]:
    memo: dict[tuple[str, str], bool] = {}

    def visit(key: tuple[str, str], stack: frozenset) -> bool:
        if key in memo:
            return memo[key]
        fn = fns.get(key)
        if fn is None or key in stack:
            return False
        value = getattr(fn, attr) or any(visit(c, stack | {key}) for c in fn.calls)
        memo[key] = value
        return value

    for key in fns:
        visit(key, frozenset())
    return memo


def _excepted(module: str, name: str) -> bool:
    return f"{module}:{name}" in EXCEPTIONS or f"{module}:*" in EXCEPTIONS


def test_every_writing_service_function_records_an_audit_row() -> None:
    fns = _all()
    writes, audits = _closure(fns, "writes"), _closure(fns, "audits")
    missing = [f"{m}:{n}" for (m, n), fn in sorted(fns.items())
               if not n.split(".")[-1].startswith("_") and writes.get((m, n)) and not audits.get((m, n))
               and not _excepted(m, n)]
    assert not missing, (
        "these functions write to the database but record no audit row: call engine.services.audit.record(...) "
        "in the same transaction, or add them with the reason to EXCEPTIONS in tests/engine/test_audit_coverage.py:"
        "\n  " + "\n  ".join(missing))


def test_every_recorded_action_is_in_the_vocabulary() -> None:
    unknown = [f"{fn.module}:{fn.name} line {line}: {action!r}" for fn in _all().values()
               for action, line in fn.actions if "." in action and action not in EVENTS]
    assert not unknown, "add these audit actions (with what they mean) to engine/audit_events.py:\n  " + \
        "\n  ".join(unknown)


def test_the_walk_sees_the_known_writers() -> None:
    """Guards the guard: if the analysis stopped seeing writes, the first test would pass vacuously."""
    fns = _all()
    writes, audits = _closure(fns, "writes"), _closure(fns, "audits")
    for key in [("engine.services.workflows", "update_workflow"), ("engine.services.connections", "create_connection"),
                ("engine.services.accounts", "create_user"), ("engine.services.keys", "rotate_secrets"),
                ("engine.services.workspaces", "add_member_by_email")]:
        assert writes[key] and audits[key], key
    assert writes[("engine.services.runs", "expire_idempotency_keys")]
    assert not audits[("engine.services.runs", "expire_idempotency_keys")]
    stale = [k for k in EXCEPTIONS if not k.endswith(":*") and tuple(k.split(":")) not in fns]
    assert not stale, f"EXCEPTIONS names functions that no longer exist: {stale}"
