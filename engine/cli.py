"""The `flowmate` command: operate a FlowMate instance from the shell.

Every command that returns data prints exactly one JSON document on stdout (logs go to stderr),
so scripts can pipe it to jq. Bad arguments exit 2 with a message; errors print
``{"error": {"code", "message", "fields"}}`` on stderr.

Commands import what they use inside their own function, on purpose: `flowmate --help` and the
health probe (run by container health checks every few seconds) stay quick, and a command never
loads what only another needs (the runtime and its executor load only for `run --wait`,
`worker` and `scheduler`). These imports hide no cycle: tests/engine/test_layers.py reads them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from engine.errors import Conflict, FlowMateError, Forbidden, NotFound, QuotaExceeded, ValidationFailed
from engine.registry import RegistryError, load_all
from engine.services.residency import EXIT_REGION_MISMATCH, RegionMismatch
from engine.states import RunStatus

EXIT_BAD_INPUT = 2


def _print(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _fail(code: str, message: str, fields: dict[str, str] | None = None, exit_code: int = 1) -> int:
    sys.stderr.write(json.dumps({"error": {"code": code, "message": message, "fields": fields or {}}}) + "\n")
    return exit_code


# -- commands ---------------------------------------------------------------------------------


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from engine.migrate import upgrade

    _print({"database": upgrade()})
    return 0


def cmd_seed(_args: argparse.Namespace) -> int:
    from engine.seed import seed

    _print(seed())
    return 0


def cmd_workspaces_create(args: argparse.Namespace) -> int:
    from engine.db import session_scope
    from engine.services.accounts import create_workspace

    with session_scope() as session:
        ws = create_workspace(session, args.name, args.slug)
        out = {"id": ws.id, "name": ws.name, "slug": ws.slug}
    _print(out)
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    from engine.db import session_scope
    from engine.services.accounts import create_user, get_workspace_by_slug

    with session_scope() as session:
        ws = get_workspace_by_slug(session, args.workspace)
        user = create_user(session, args.email, args.password, ws, role=args.role, name=args.name or "")
        from engine.services.verification import mark_verified

        mark_verified(session, user, "operator")  # the operator at the server's shell vouches for the address
        out = {"id": user.id, "email": user.email, "workspace": ws.slug, "role": args.role}
    _print(out)
    return 0


def cmd_tokens_create(args: argparse.Namespace) -> int:
    from engine.db import session_scope
    from engine.services.accounts import create_token, get_workspace_by_slug
    from engine.services.actor import Actor

    with session_scope() as session:
        ws = get_workspace_by_slug(session, args.workspace)
        token, clear = create_token(session, Actor.system(ws.id), role=args.role, name=args.name or "")
        out = {"id": token.id, "token": clear, "role": token.role, "workspace": ws.slug,
               "note": "store this token now: it is shown only once"}
    _print(out)
    return 0


def _load_json_file(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationFailed(f"file not found: {path}", {"file": "not found"}) from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"{path} is not valid JSON: {exc}", {"file": str(exc)}) from None


def cmd_workflows_import(args: argparse.Namespace) -> int:
    from engine.db import session_scope
    from engine.services.accounts import get_workspace_by_slug
    from engine.services.actor import Actor
    from engine.services.workflows import create_workflow, workflow_public

    raw = _load_json_file(args.file)
    with session_scope() as session:
        ws = get_workspace_by_slug(session, args.workspace)
        wf = create_workflow(session, Actor.system(ws.id), raw)
        session.flush()
        out = workflow_public(session, wf)
    _print(out)
    return 0


def _workflow_actor(session: Any, workflow_id: str) -> Any:
    """The CLI is the operator: act in whichever workspace owns the object."""
    from engine.models import Workflow
    from engine.services.actor import Actor

    wf = session.get(Workflow, workflow_id)
    if wf is None:
        raise NotFound(f"no workflow with id {workflow_id}")
    return Actor.system(wf.workspace_id)


def cmd_workflows_export(args: argparse.Namespace) -> int:
    from engine.db import session_scope
    from engine.services.workflows import export_definition

    with session_scope() as session:
        out = export_definition(session, _workflow_actor(session, args.id), args.id)
    _print(out)
    return 0


def cmd_workflows_list(args: argparse.Namespace) -> int:
    from engine.db import session_scope
    from engine.services.accounts import get_workspace_by_slug
    from engine.services.actor import Actor
    from engine.services.workflows import list_workflows

    with session_scope() as session:
        ws = get_workspace_by_slug(session, args.workspace)
        out = list_workflows(session, Actor.system(ws.id), search=args.search, limit=args.limit,
                             cursor=args.cursor)
    _print(out)
    return 0


def _show_run(run_id: str) -> dict[str, Any]:
    from engine.db import session_scope
    from engine.models import Run
    from engine.services.runs import run_public

    with session_scope() as session:
        run = session.get(Run, run_id)
        if run is None:
            raise NotFound(f"no run with id {run_id}")
        return run_public(session, run)


def cmd_run(args: argparse.Namespace) -> int:
    from engine.config import get_settings

    try:
        payload = json.loads(args.payload) if args.payload else {}
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"--payload is not valid JSON: {exc}", {"payload": str(exc)}) from None
    runtime = None
    if args.wait and get_settings().embedded_queue:
        from engine.runtime import Runtime  # loads the executor: only when this process executes

        runtime = Runtime(threads=2).start()
    try:
        return _start_and_wait(args, payload)
    finally:
        if runtime is not None:
            runtime.stop()


def _start_and_wait(args: argparse.Namespace, payload: Any) -> int:
    from engine.db import session_scope
    from engine.services.runs import start_manual_run

    with session_scope() as session:
        actor = _workflow_actor(session, args.workflow_id)
    run = start_manual_run(actor, args.workflow_id, payload)
    if not args.wait:
        _print(_show_run(run.id))
        return 0
    deadline = time.monotonic() + args.timeout
    while True:
        shown = _show_run(run.id)
        if RunStatus(shown["status"]).finished:
            from engine.services.usage import flush_usage

            flush_usage()
            _print(shown)
            return 0 if shown["status"] == RunStatus.succeeded else 1
        if time.monotonic() > deadline:
            _print(shown)
            sys.stderr.write(f"timed out after {args.timeout:g}s; the run is still {shown['status']}\n")
            return 3
        time.sleep(0.05)


def cmd_runs_show(args: argparse.Namespace) -> int:
    _print(_show_run(args.id))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from engine.worker import run_workers

    return run_workers(processes=args.processes, threads=args.threads, nice=args.nice)


def cmd_scheduler(args: argparse.Namespace) -> int:
    from engine.worker import run_scheduler

    return run_scheduler()


def cmd_actions_list(args: argparse.Namespace) -> int:
    """Every registered action (built-in and plugins): name, title, connection type, side effect."""
    from engine.registry import all_actions

    items = [{"name": a.name, "title": a.title, "connection_type": ",".join(a.connection_types) or None,
              "side_effect": a.side_effect, "package": a.package} for a in sorted(all_actions().values(),
                                                                              key=lambda a: a.name)]
    if args.json:
        _print({"items": items})
        return 0
    rows = [("NAME", "TITLE", "CONNECTION", "SIDE EFFECT", "PACKAGE")] + [
        (i["name"], i["title"], i["connection_type"] or "-", "yes" if i["side_effect"] else "no", i["package"])
        for i in items]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
    return 0


def cmd_templates_list(args: argparse.Namespace) -> int:
    from engine.catalog import categories, list_templates

    _print({"items": list_templates(search=args.search, category=args.category), "categories": categories()})
    return 0


def cmd_templates_show(args: argparse.Namespace) -> int:
    from engine.catalog import get_template, template_public

    _print(template_public(get_template(args.slug), _parse_vars(args.var)))
    return 0


def _parse_vars(pairs: list[str] | None) -> dict[str, str]:
    """``--var k=v`` (repeatable) → {k: v}; values stay text and are typed by the template."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationFailed(f"--var {pair!r} must look like name=value", {"var": "expected name=value"})
        out[key.strip()] = value
    return out


def cmd_templates_use(args: argparse.Namespace) -> int:
    from engine.catalog import instantiate, missing_connections
    from engine.db import session_scope
    from engine.services.accounts import get_workspace_by_slug
    from engine.services.actor import Actor
    from engine.services.workflows import workflow_public

    variables = _parse_vars(args.var)
    with session_scope() as session:
        ws = get_workspace_by_slug(session, args.workspace)
        actor = Actor.system(ws.id)
        wf = instantiate(session, actor, args.slug, variables, name=args.name)
        session.flush()
        out = {**workflow_public(session, wf), "template": args.slug,
               "missing_connections": missing_connections(session, actor, args.slug, variables)}
    _print(out)
    return 0


def cmd_keys_rotate(_args: argparse.Namespace) -> int:
    from engine.db import session_scope
    from engine.services.keys import RotationFailed, rotate_secrets

    try:
        with session_scope() as session:
            out = rotate_secrets(session)
    except RotationFailed as exc:
        sys.stderr.write(json.dumps({"error": {"code": "rotation_failed", "message": str(exc),
                                               "failures": exc.failures}}) + "\n")
        return 1
    _print({"rotated": out})
    return 0


def cmd_connections_test(args: argparse.Namespace) -> int:
    from engine.db import session_scope
    from engine.models import Connection
    from engine.services import connections
    from engine.services.actor import Actor

    with session_scope() as session:
        conn = session.get(Connection, args.id)
        if conn is None:
            raise NotFound(f"no connection with id {args.id}")
        out = connections.test_connection(session, Actor.system(conn.workspace_id), conn.id)
    _print(out)
    return 0 if out["ok"] else 1


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Exit 0 when every chain verifies, 1 naming the first broken row of each broken chain."""
    from engine.db import session_scope
    from engine.services.audit import verify_all

    with session_scope() as session:
        chains = verify_all(session, args.workspace)
    _print({"ok": all(c["ok"] for c in chains), "chains": chains})
    return 0 if all(c["ok"] for c in chains) else 1
# -- data governance ----------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    """Build an export now (in this process) and copy the ZIP to --out."""
    from engine.db import session_scope
    from engine.services import exports
    from engine.services.accounts import get_workspace_by_slug, memberships_of, normalise_email
    from engine.services.actor import Actor
    from engine.storage import export_storage

    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise ValidationFailed(f"--out {args.out} is a directory", {"out": "give a file name"})
    with session_scope() as session:
        if args.workspace:
            ws = get_workspace_by_slug(session, args.workspace)
            job = exports.create_export(session, Actor.system(ws.id), "workspace")
        else:
            from sqlmodel import select

            from engine.models import Role, User

            user = session.exec(select(User).where(User.email == normalise_email(args.user))).first()
            if user is None:
                raise NotFound(f"no user with email {args.user}")
            first = memberships_of(session, user.id)
            actor = Actor(workspace_id=first[0][0].id if first else "", role=Role.viewer, label="cli",
                          user_id=user.id)
            job = exports.create_export(session, actor, "user")
        export_id = job.id
    if exports.claim_next_id(export_id):
        manifest = exports.build_export(export_id)
    else:
        raise FlowMateError("the export was claimed by another process; see flowmate exports")
    with session_scope() as session:
        from engine.models import ExportJob

        job = session.get(ExportJob, export_id)
        key, public = job.storage_key, exports.export_public(job)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        for chunk in export_storage().open_chunks(key):
            fh.write(chunk)
    _print({"export": public, "out": str(out), "counts": manifest["counts"]})
    return 0


def cmd_residency_report(_args: argparse.Namespace) -> int:
    from engine.db import get_engine
    from engine.services.residency import report

    _print(report(get_engine()))
    return 0


def _cli_actor(slug: str) -> Any:
    from engine.db import session_scope
    from engine.services.accounts import get_workspace_by_slug
    from engine.services.actor import Actor

    with session_scope() as session:
        return Actor.system(get_workspace_by_slug(session, slug).id)


def cmd_erase(args: argparse.Namespace) -> int:
    from engine.services.erasure import erase_subject, find_subject

    actor = _cli_actor(args.workspace)
    if not args.yes:
        _print({"dry_run": True, **find_subject(actor, args.subject),
                "note": "nothing changed; add --yes to erase"})
        return 0
    _print(erase_subject(actor, args.subject))
    return 0


def cmd_workspaces_delete(args: argparse.Namespace) -> int:
    from engine.services.deletion import delete_workspace

    _print({"deleted": args.slug, "counts": delete_workspace(_cli_actor(args.slug), args.confirm)})
    return 0


def cmd_users_delete(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from engine.db import session_scope
    from engine.models import User
    from engine.services.accounts import normalise_email
    from engine.services.deletion import delete_account

    with session_scope() as session:
        user = session.exec(select(User).where(User.email == normalise_email(args.email))).first()
        if user is None:
            raise NotFound(f"no user with email {args.email}")
        out = delete_account(session, user.id, args.password)
    _print(out)
    return 0


def cmd_retention_run(_args: argparse.Namespace) -> int:
    from engine.config import get_settings
    from engine.priority import lower_cpu_priority
    from engine.services.retention import run_retention_duty

    lower_cpu_priority(get_settings().worker_nice)  # a background purge: intake keeps the CPU
    _print(run_retention_duty(force=True))
    return 0
def cmd_backup(args: argparse.Namespace) -> int:
    from engine.backup import PostgresBackupUnsupported, backup

    try:
        _print(backup(args.out))
    except PostgresBackupUnsupported as exc:
        return _fail("use_pg_dump", str(exc), exit_code=EXIT_BAD_INPUT)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from engine.backup import PostgresBackupUnsupported, restore

    try:
        _print(restore(args.file))
    except PostgresBackupUnsupported as exc:
        return _fail("use_pg_restore", str(exc), exit_code=EXIT_BAD_INPUT)
    return 0


def _health_of_web(url: str) -> int:
    """A web process is healthy when its /api/health answers with the database and queue up.

    Missing workers make /api/health say 503 (an operator must know), but restarting the web
    process would not bring them back, so they do not make the web container unhealthy.
    """
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=8) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            body = {"status": f"HTTP {exc.code}"}
    except (OSError, ValueError) as exc:
        body = {"status": "unreachable", "detail": type(exc).__name__}
    checks = body.get("checks") or {}
    ok = all(checks.get(name, {}).get("ok") for name in ("database", "queue"))
    _print({"status": "ok" if ok else "degraded", "web": body})
    return 0 if ok else 1


def cmd_health(args: argparse.Namespace) -> int:
    """Container/unit health check: this process's view of the database, Redis and (--worker) the
    worker on this host. Exit 0 when healthy, 1 otherwise (what HEALTHCHECK and systemd want)."""
    import socket

    from sqlalchemy import text

    from engine.config import get_settings
    from engine.db import get_engine

    if args.url:
        return _health_of_web(args.url)
    settings = get_settings()
    checks: dict[str, Any] = {}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "detail": type(exc).__name__}
    if settings.redis_url:
        try:
            import redis

            redis.Redis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
            checks["redis"] = {"ok": True}
        except Exception as exc:
            checks["redis"] = {"ok": False, "detail": type(exc).__name__}
    if args.worker:
        host = socket.gethostname()
        try:
            from engine.liveness import live_worker_ids

            mine = [w for w in live_worker_ids() if w.startswith(host + ":")]
            checks["worker"] = {"ok": bool(mine), "detail": f"{len(mine)} alive on {host}"}
        except Exception as exc:
            checks["worker"] = {"ok": False, "detail": type(exc).__name__}
    ok = all(c["ok"] for c in checks.values())
    _print({"status": "ok" if ok else "degraded", "checks": checks})
    return 0 if ok else 1


# -- parser -----------------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _nice_value(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 19:
        raise argparse.ArgumentTypeError("must be between 0 and 19")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowmate", description="Operate a FlowMate instance.")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    sub.add_parser("seed", help="create the demo workspace and sample data (idempotent)").set_defaults(
        func=cmd_seed)

    ws = sub.add_parser("workspaces").add_subparsers(dest="ws_command", required=True)
    p = ws.add_parser("create")
    p.add_argument("name")
    p.add_argument("--slug")
    p.set_defaults(func=cmd_workspaces_create)

    users = sub.add_parser("users").add_subparsers(dest="users_command", required=True)
    p = users.add_parser("create")
    p.add_argument("email")
    p.add_argument("--password", required=True)
    p.add_argument("--workspace", required=True)
    p.add_argument("--role", default="owner", choices=["owner", "admin", "editor", "viewer"])
    p.add_argument("--name")
    p.set_defaults(func=cmd_users_create)

    tokens = sub.add_parser("tokens").add_subparsers(dest="tokens_command", required=True)
    p = tokens.add_parser("create")
    p.add_argument("--workspace", required=True)
    p.add_argument("--role", default="editor", choices=["owner", "admin", "editor", "viewer"])
    p.add_argument("--name")
    p.set_defaults(func=cmd_tokens_create)

    wfs = sub.add_parser("workflows").add_subparsers(dest="wf_command", required=True)
    p = wfs.add_parser("import")
    p.add_argument("file")
    p.add_argument("--workspace", required=True)
    p.set_defaults(func=cmd_workflows_import)
    p = wfs.add_parser("export")
    p.add_argument("id")
    p.set_defaults(func=cmd_workflows_export)
    p = wfs.add_parser("list")
    p.add_argument("--workspace", required=True)
    p.add_argument("--search")
    p.add_argument("--limit", type=int)
    p.add_argument("--cursor")
    p.set_defaults(func=cmd_workflows_list)

    p = sub.add_parser("run", help="start a manual run")
    p.add_argument("workflow_id")
    p.add_argument("--payload", help="JSON payload")
    p.add_argument("--wait", action="store_true", help="wait until the run finishes")
    p.add_argument("--timeout", type=_positive_float, default=60.0)
    p.set_defaults(func=cmd_run)

    runs = sub.add_parser("runs").add_subparsers(dest="runs_command", required=True)
    p = runs.add_parser("show")
    p.add_argument("id")
    p.set_defaults(func=cmd_runs_show)

    p = sub.add_parser("worker", help="execute runs from the Redis queue")
    p.add_argument("--processes", type=_positive_int, default=1)
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="worker threads per process (default FLOWMATE_WORKER_THREADS, 4)")
    p.add_argument("--nice", type=_nice_value, default=None,
                   help="lower CPU priority by this much, 0-19, so web intake stays fast on a shared machine "
                        "(default FLOWMATE_WORKER_NICE, 10)")
    p.set_defaults(func=cmd_worker)

    sub.add_parser("scheduler", help="fire cron triggers and sweep lost runs").set_defaults(func=cmd_scheduler)

    acts = sub.add_parser("actions", help="the actions steps can use").add_subparsers(dest="actions_command",
                                                                                      required=True)
    p = acts.add_parser("list", help="every registered action, built-in and from plugins")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_actions_list)

    tpl = sub.add_parser("templates", help="the template gallery").add_subparsers(dest="tpl_command", required=True)
    p = tpl.add_parser("list", help="list templates")
    p.add_argument("--search")
    p.add_argument("--category")
    p.set_defaults(func=cmd_templates_list)
    p = tpl.add_parser("show", help="variables, connections and the rendered definition of a template")
    p.add_argument("slug")
    p.add_argument("--var", action="append", metavar="NAME=VALUE")
    p.set_defaults(func=cmd_templates_show)
    p = tpl.add_parser("use", help="create a workflow from a template")
    p.add_argument("slug")
    p.add_argument("--workspace", required=True)
    p.add_argument("--var", action="append", metavar="NAME=VALUE", help="a template variable (repeatable)")
    p.add_argument("--name", help="name of the new workflow (default: the template's)")
    p.set_defaults(func=cmd_templates_use)

    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("rotate", help="re-encrypt every stored secret under FLOWMATE_SECRET_KEY").set_defaults(
        func=cmd_keys_rotate)

    conns = sub.add_parser("connections").add_subparsers(dest="conn_command", required=True)
    p = conns.add_parser("test", help="make one cheap real call with a connection's credentials")
    p.add_argument("id")
    p.set_defaults(func=cmd_connections_test)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(dest="audit_command", required=True)
    p = audit.add_parser("verify", help="check the audit hash chains; names the first broken row")
    p.add_argument("--workspace", help="only this workspace (slug)")
    p.set_defaults(func=cmd_audit_verify)
    p = sub.add_parser("export", help="export a workspace or a user's own data to a ZIP")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--workspace", metavar="SLUG")
    who.add_argument("--user", metavar="EMAIL")
    p.add_argument("--out", required=True, metavar="FILE")
    p.set_defaults(func=cmd_export)

    res = sub.add_parser("residency", help="data residency").add_subparsers(dest="res_command", required=True)
    res.add_parser("report", help="where every store lives, as JSON").set_defaults(func=cmd_residency_report)

    p = sub.add_parser("erase", help="erase an email address or phone number from a workspace's run data")
    p.add_argument("subject", help="an email address or a phone number (any format)")
    p.add_argument("--workspace", required=True)
    p.add_argument("--yes", action="store_true", help="really erase (without it: count only)")
    p.set_defaults(func=cmd_erase)

    p = ws.add_parser("delete", help="delete a workspace and everything it owns")
    p.add_argument("slug")
    p.add_argument("--confirm", required=True, metavar="NAME", help="the workspace's name, to confirm")
    p.set_defaults(func=cmd_workspaces_delete)

    p = users.add_parser("delete", help="delete a user's account (not while they are a sole owner)")
    p.add_argument("email")
    p.add_argument("--password", required=True)
    p.set_defaults(func=cmd_users_delete)

    ret = sub.add_parser("retention", help="run history retention").add_subparsers(dest="ret_command",
                                                                                    required=True)
    ret.add_parser("run", help="prune expired runs and audit rows now").set_defaults(func=cmd_retention_run)
    mail = sub.add_parser("mail", help="system mail").add_subparsers(dest="mail_command", required=True)
    mail.add_parser("requeue", help="enqueue every system mail still waiting (after a queue outage)").set_defaults(
        func=cmd_mail_requeue)
    p = mail.add_parser("list", help="the newest system mails and their delivery status (never their bodies)")
    p.add_argument("--limit", type=_positive_int, default=20)
    p.set_defaults(func=cmd_mail_list)
    p = sub.add_parser("backup", help="consistent copy of the SQLite database while it runs (PostgreSQL: pg_dump)")
    p.add_argument("--out", required=True, help="file to write (must not exist)")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="restore a `flowmate backup` file into an empty SQLite database")
    p.add_argument("file")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("health", help="exit 0 when the database, Redis and (--worker) this host's worker are alive")
    p.add_argument("--worker", action="store_true", help="also require a live worker heartbeat from this host")
    p.add_argument("--url", help="instead, ask a web process (its /api/health URL) whether its database and "
                                 "queue are up")
    p.set_defaults(func=cmd_health)

    return parser


def cmd_mail_requeue(args: argparse.Namespace) -> int:
    from engine.db import session_scope
    from engine.services.system_mail import requeue_waiting

    with session_scope() as session:
        _print({"requeued": requeue_waiting(session)})
    return 0


def cmd_mail_list(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from engine.db import session_scope
    from engine.models import SystemMail
    from engine.services.system_mail import mail_public

    with session_scope() as session:
        rows = session.exec(select(SystemMail).order_by(SystemMail.created_at.desc()).limit(args.limit)).all()
        _print({"items": [mail_public(m) for m in rows]})
    return 0


#: Commands that do not start as a normal process: `db upgrade` checks the region itself,
#: `residency report` must still print where things are when the regions do not match, and
#: `backup` / `restore` copy a database as it is (a restored one keeps the region it was made for).
_REGION_EXEMPT = {cmd_db_upgrade, cmd_residency_report, cmd_backup, cmd_restore}


def main(argv: list[str] | None = None) -> int:
    from engine.logs import configure_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging()
    if args.func not in _REGION_EXEMPT:
        from engine.services.residency import enforce

        enforce(args.command)  # exits non-zero naming both regions on a mismatch
    try:
        load_all()  # a plugin that reuses a name fails start-up here, naming both packages
    except RegistryError as exc:
        return _fail("plugin_conflict", str(exc))
    try:
        return int(args.func(args) or 0)
    except ValidationFailed as exc:
        return _fail("validation_error", exc.message, exc.fields, EXIT_BAD_INPUT)
    except NotFound as exc:
        return _fail("not_found", str(exc), exit_code=EXIT_BAD_INPUT)
    except Conflict as exc:
        return _fail("conflict", str(exc), exit_code=EXIT_BAD_INPUT)
    except Forbidden as exc:
        return _fail("forbidden", str(exc), exit_code=EXIT_BAD_INPUT)
    except RegionMismatch as exc:
        sys.stderr.write(f"flowmate {args.command}: {exc}\n")
        return EXIT_REGION_MISMATCH
    except QuotaExceeded as exc:
        return _fail("quota_exceeded", str(exc))
    except FlowMateError as exc:
        return _fail("error", str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
