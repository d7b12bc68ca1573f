"""FastAPI app with FlowMate's REST routes, mounted in front of Reflex via ``api_transformer``.

Routes: ``/api/v1/...`` (JSON, Bearer token or the web session cookie), ``/hooks/{token}``
(webhook intake), ``/api/health``, ``/metrics``; OpenAPI at ``/api/docs`` (schema at
``/api/openapi.json``). In dev these answer on the backend port (8000); in prod on the single
app port (3000), and under ``reflex run --env prod --backend-only``.

Imports happen inside :func:`build_api`, so ``rxconfig.py`` can import ``flowmate_app.api.cors``
cheaply.
"""

from __future__ import annotations

from typing import Any


def build_api() -> Any:
    """Build the FastAPI app that Reflex mounts its own routes (/_event, /ping, ...) under."""
    from fastapi_offline import FastAPIOffline
    from starlette.middleware.cors import CORSMiddleware

    from flowmate_app.api import (
        approvals,
        audit,
        connections,
        contacts,
        errors,
        exports,
        health,
        hooks,
        metrics,
        oauth,
        resume,
        runs,
        signin,
        templates,
        tokens,
        usage,
        workflows,
    )
    from flowmate_app.api.access_log import install_access_log_filter
    from flowmate_app.api.cors import reflex_cors_origins
    from flowmate_app.api.middleware import ApiMiddleware

    # FastAPIOffline: the Swagger UI files come from the installed package, not a CDN, so the
    # docs work on a self-hosted box without internet access and leak no visit to a third party.
    api = FastAPIOffline(
        title="FlowMate API",
        version="1.0.0",
        description=(
            "Automate with FlowMate from scripts and other systems. Authenticate with "
            "`Authorization: Bearer <token>` (create tokens with `flowmate tokens create` or "
            "`POST /api/v1/tokens`). Errors are always `{\"error\": {\"code\", \"message\", \"fields\"}}`. "
            "Another workspace's objects answer 404, exactly like missing ones."
        ),
        docs_url="/api/docs",
        redoc_url=None,
        static_url="/api/docs-static",
        openapi_url="/api/openapi.json",
    )
    errors.install(api)
    install_access_log_filter()  # webhook URL tokens never reach the server's access log
    for module in (workflows, runs, approvals, templates, connections, audit, usage, tokens, contacts, resume, hooks,
                   health, metrics):
        # Routes that authenticate count against the per-token rate limit (deps.current_actor).
        limited = module in (workflows, runs, approvals, templates, connections, audit, usage, tokens, contacts)
        api.include_router(module.router, responses=errors.responses(429) if limited else None)
    api.include_router(signin.router)
    from flowmate_app.api import inbound_sms, invitation_signup, oidc, unsubscribe

    api.include_router(invitation_signup.router)  # accounts: form posts that sign a browser in
    api.include_router(oidc.router)  # accounts: sign-in with OpenID Connect providers

    for module in (inbound_sms, unsubscribe):  # no login: verified by signature, secret or link token
        api.include_router(module.router)
    api.include_router(exports.router)  # data governance: exports, erasure, retention, residency

    api.include_router(oauth.router)  # /oauth/start, /oauth/callback: the browser side of "Connect"
    api.include_router(errors.fallback_router)  # last: unknown /api paths answer JSON 404
    api.add_middleware(
        CORSMiddleware,
        allow_origins=reflex_cors_origins(),
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-FlowMate-Signature",
                       "X-FlowMate-Token", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After", "Location",
                        "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"],
        max_age=600,
    )
    from flowmate_app.api.bodylimits import BodyLimitMiddleware

    api.add_middleware(BodyLimitMiddleware)  # inside ApiMiddleware: its answers get the API headers
    api.add_middleware(ApiMiddleware)
    return api
