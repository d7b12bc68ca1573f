"""The CORS allow-list: the app's own origin (FLOWMATE_BASE_URL) plus FLOWMATE_CORS_ORIGINS.

Kept free of heavy imports: rxconfig.py calls :func:`reflex_cors_origins`, because Reflex wraps
the whole backend (our API included) in its own CORS middleware and Socket.IO origin check;
if those allowed every origin, our allow-list would be moot.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from engine.config import Settings, get_settings


def origin_of(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else url.strip().lower()


def allowed_origins(settings: Settings | None = None) -> list[str]:
    """Origins whose pages may call the API from a browser (``*`` only if configured so)."""
    settings = settings or get_settings()
    extra = [o if o == "*" else origin_of(o) for o in settings.cors_origins]
    return list(dict.fromkeys([origin_of(settings.base_url), *extra]))


def reflex_cors_origins(settings: Settings | None = None) -> list[str]:
    """What Reflex should allow. In development with no list configured: anything (the dev UI on
    :3000 talks to the backend on :8000 under whatever host name the developer used)."""
    settings = settings or get_settings()
    if settings.env == "development" and not settings.cors_origins:
        return ["*"]
    return allowed_origins(settings)


def origin_allowed(origin: str | None, settings: Settings | None = None) -> bool:
    if not origin:
        return True
    allowed = reflex_cors_origins(settings)
    return "*" in allowed or origin_of(origin) in allowed
