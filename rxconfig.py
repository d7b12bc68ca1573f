"""Reflex configuration for the FlowMate web app.

The database URL comes from engine.config so the web app, the workers and the `flowmate` CLI
always talk to the same database (FLOWMATE_DATABASE_URL, SQLite by default).
"""

import reflex as rx

from engine.config import get_settings
from flowmate_app.api.cors import reflex_cors_origins

_settings = get_settings()

config = rx.Config(
    app_name="flowmate_app",
    telemetry_enabled=False,
    db_url=_settings.database_url,
    # With Redis configured, each browser session's UI state lives in Redis instead of one web
    # process's memory or disk, so any web replica can serve any event of any session (a
    # replica restart or a balancer fail-over keeps the page state). Without Redis: Reflex's
    # default (one process, state on disk). REFLEX_REDIS_URL, when set, still wins.
    redis_url=_settings.redis_url,
    # Reflex wraps the whole backend (our REST API included) in its own CORS middleware and
    # Socket.IO origin check: they get the same allow-list as the API (FLOWMATE_BASE_URL's origin
    # plus FLOWMATE_CORS_ORIGINS; any origin in development when no list is configured).
    cors_allowed_origins=reflex_cors_origins(),
    # Ports are Reflex's defaults and deliberately NOT set here: dev serves the UI on 3000 and the
    # backend (Reflex events, our REST API, webhooks) on 8000; prod (`reflex run --env prod`)
    # serves everything on 3000. Setting both here makes prod refuse to start ("frontend and
    # backend must run on the same port"). Override per run with --frontend-port/--backend-port.
    # state_auto_setters is already off by default in Reflex 0.10; passing it at all (even False)
    # prints a deprecation warning, so it is deliberately not set here. Write @rx.event setters.
    # The sitemap plugin is on by default and warns unless listed; a logged-in app needs none.
    # Reflex 0.10 wants the Radix theme here (App(theme=...) is deprecated).
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="inherit", accent_color="violet", radius="medium"),
        ),
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
    # Self-hosted product UI: no floating "Built with Reflex" badge in prod builds.
    show_built_with_reflex=False,
)
