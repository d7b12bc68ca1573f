"""Serve the web app from a frontend built ahead of time: the production web command.

``reflex run --env prod`` compiles the pages and runs the JavaScript build on every start,
which needs bun and node_modules at run time and adds seconds to each start. A container image
or a package builds the frontend once (``reflex export --frontend-only --no-zip --env prod``)
and every web process then only serves it: this module starts Reflex's production backend
(Granian, ``GRANIAN_WORKERS`` processes) with the compiled frontend mounted on the same port, so
one port carries the UI, Reflex's websocket events, the REST API, webhooks and /api/health.

    python -m flowmate_app.serve --host 0.0.0.0 --port 3000
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flowmate_app.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--backend-only", action="store_true",
                        help="serve only the backend (events, API, webhooks) when another server serves the UI")
    args = parser.parse_args(argv)

    from reflex.utils import exec, prerequisites
    from reflex_base import constants
    from reflex_base.environment import environment

    environment.REFLEX_ENV_MODE.set(constants.Env.PROD)
    environment.REFLEX_SKIP_COMPILE.set(True)  # the pages were compiled when the frontend was built
    static = prerequisites.get_web_dir() / constants.Dirs.STATIC
    if not args.backend_only and not (Path(static) / "index.html").exists():
        sys.stderr.write(f"no built frontend in {static}: build it first with "
                         "`reflex export --frontend-only --no-zip --env prod` (the Dockerfile does), "
                         "or pass --backend-only\n")
        return 2
    os.chdir(Path(__file__).resolve().parent.parent)  # rxconfig.py lives at the project root
    from reflex_base.config import get_config

    exec.run_backend_prod(args.host, args.port, get_config().loglevel.subprocess_level(),
                          mount_frontend_compiled_app=not args.backend_only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
