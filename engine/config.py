"""All FLOWMATE_* settings in one validated pydantic-settings class.

Outside development and test, a default or short secret key is refused at start-up: a
production instance must never encrypt connection secrets with a key that is in our source.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET_KEY = "flowmate-development-secret-key-do-not-use-in-production"

#: FLOWMATE_DATA_REGION values: (jurisdiction of workspace data, matching S3/AWS region or None).
#: ``local`` is a developer's machine: it serves every jurisdiction and any storage.
DEPLOYMENT_REGIONS: dict[str, tuple[str | None, str | None]] = {
    "local": (None, None),
    "au-syd": ("au", "ap-southeast-2"), "au-mel": ("au", "ap-southeast-4"),
    "au-bne": ("au", None), "au-per": ("au", None), "au-adl": ("au", None), "au-cbr": ("au", None),
    "nz-akl": ("nz", "ap-southeast-6"), "sg-sin": ("sg", "ap-southeast-1"),
    "us-east": ("us", "us-east-1"), "us-west": ("us", "us-west-2"),
    "eu-west": ("eu", "eu-west-1"), "eu-central": ("eu", "eu-central-1"),
}


class Settings(BaseSettings):
    """Every FLOWMATE_* variable, with defaults that make `make run` work alone."""

    #: An empty value (``FLOWMATE_SIGNUP=`` in an env file, ``${FLOWMATE_SIGNUP:-}`` in compose.yaml) means
    #: "not set": the default applies. (Otherwise an empty FLOWMATE_METRICS_TOKEN would be a token.)
    model_config = SettingsConfigDict(env_prefix="FLOWMATE_", env_file=".env", extra="ignore", env_ignore_empty=True)

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./flowmate.db"
    redis_url: str | None = None
    redis_namespace: str = "flowmate"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    old_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    base_url: str = "http://localhost:3000"
    outbound_allow: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = Field(
        default_factory=list,
        description="CIDR ranges that outbound calls may reach even though they are not public.",
    )

    # Execution
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    sweep_interval_seconds: float = 15.0
    queued_grace_seconds: float = 30.0
    default_step_timeout_seconds: float = 60.0
    worker_threads: int = Field(4, ge=1, le=256, description="Dramatiq threads per worker process (4 measured best "
                                "for cheap steps on 2 cores; more helps when steps wait on slow APIs).")
    worker_nice: int = Field(10, ge=0, le=19, description="How much worker processes lower their CPU priority so "
                             "webhook intake keeps its latency when they share cores (0 = not at all).")
    scheduler_interval_seconds: float = 1.0
    cron_catchup_seconds: float = 120.0

    # Intake
    webhook_max_body_bytes: int = 1024 * 1024
    webhook_rate_per_second: int = 50
    webhook_rate_burst: int = 100
    webhook_intake_threads: int = Field(4, ge=1, le=64, description="Threads per web process doing the "
                                        "intake's database and Redis calls (more only adds GIL contention).")
    monthly_run_quota: int = 1_000_000
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    otel_exporter_otlp_endpoint: str | None = Field(
        None, description="OpenTelemetry collector base URL (OTLP/HTTP, protobuf; spans go to <url>/v1/traces). "
        "Unset: no traces.")
    live_fallback_seconds: float = Field(30.0, ge=1, le=3600, description="How often an open page re-reads "
                                         "anyway, in case a live update message was lost.")

    # Hardening (docs/limits.md): bounded rendering, fairness, shutdown, input and data limits
    expression_max_operations: int = Field(1_000_000, ge=1_000, description="Sandbox operations (calls, "
                                           "lookups, loop iterations) one step's expressions may spend.")
    expression_max_seconds: float = Field(5.0, gt=0, description="Wall-clock seconds one step's expressions "
                                          "may take (never more than the step's timeout).")
    workspace_max_concurrent_runs: int | None = Field(None, ge=1, description="Runs of one workspace a worker "
                                                      "process executes at once (unset: its threads minus one).")
    workspace_defer_seconds: float = Field(5.0, gt=0, description="A run deferred by the per-workspace cap "
                                           "is offered again when one of its workspace's runs finishes here, "
                                           "at the latest after about this long.")
    worker_shutdown_grace_seconds: float = Field(30.0, ge=0, description="On SIGTERM, how long in-flight steps "
                                                 "may finish before their runs are released to other workers.")
    api_max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024, description="Largest request body of any "
                                    "/api/ route (run payloads, definitions, imports); 413 above.")
    max_json_depth: int = Field(64, ge=4, le=500, description="Deepest nesting of JSON accepted in request "
                                "bodies, webhook payloads and definitions; 422 above.")
    http_max_response_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Default cap on the "
                                         "(decompressed) response body an HTTP step reads.")
    step_data_max_bytes: int = Field(256 * 1024, ge=1024, description="Largest stored input or output of one "
                                     "step (JSON bytes); larger data is replaced by a marker with its size.")
    # Sign-in, sign-up and sessions (see docs/security.md)
    signup: Literal["open", "invite", "closed"] | None = Field(
        None, description="Who may create an account at /signup: anyone (open), only people holding an "
        "invitation (invite), or nobody (closed; accounts come from the CLI). Default: invite in "
        "production, open elsewhere.")
    signup_rate_limit: str = Field("5/hour", description="Sign-up attempts per client IP (a `limits` string).")
    login_rate_limit: str = Field("5/minute", description="Login attempts (right or wrong) per client IP.")
    login_account_rate_limit: str = Field("10/minute", description="Login attempts for one email, all clients.")
    api_rate_limit: str = Field("600/minute", description="/api/v1 calls per API token (or signed-in person).")
    account_rate_limit: str = Field(
        "5/15minutes", description="Per client IP, for each account e-mail flow on its own: password-reset requests, "
        "confirmation-link resends, invitation sign-ups and acceptances.")
    account_rate_limit_per_address: str = Field(
        "5/hour", description="Per email address (real or not), for each account e-mail flow on its own.")
    oidc_rate_limit: str = Field(
        "30/15minutes", description="Single sign-on starts and callbacks per client IP, and sign-ins per identity.")
    login_failures_per_account: str = Field(
        "5/5minutes", description="Failed logins for one email from one client before that pair is locked.")
    login_failures_per_client: str = Field(
        "30/15minutes", description="Failed logins from one client IP (any emails) before it is locked.")
    login_failures_per_email: str = Field(
        "100/hour", description="Failed logins for one email from all clients together (slows distributed "
        "guessing; a botnet can still lock an account for this window).")
    password_hash_threads: int = Field(
        1, ge=1, le=32, description="Threads per web process that run argon2 (logins, sign-ups): a login flood "
        "uses at most this many cores and never the event loop.")
    password_hash_queue: int = Field(
        32, ge=1, le=10_000, description="Password checks that may wait for a hash thread; more answer 503 at once.")
    cookie_secure: bool | None = Field(
        None, description="Mark the session cookie Secure (HTTPS only). Default: on in production.")
    trusted_proxy_hops: int = Field(
        0, ge=0, le=10, description="Reverse proxies in front of the app whose X-Forwarded-For is trusted for "
        "the client IP (0 = use the socket peer).")
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token that GET /metrics requires. Unset: /metrics is off in production.")

    @field_validator("signup_rate_limit", "login_failures_per_account", "login_failures_per_client",
                     "login_failures_per_email", "login_rate_limit", "login_account_rate_limit", "api_rate_limit",
                     "account_rate_limit", "account_rate_limit_per_address", "oidc_rate_limit")
    @classmethod
    def _rate_string(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '5/minute': {value!r} ({exc})") from None
        return value

    @property
    def signup_mode(self) -> str:
        """FLOWMATE_SIGNUP, or its default: by invitation in production, open elsewhere."""
        if self.signup is not None:
            return self.signup
        return "invite" if self.env == "production" else "open"

    @property
    def session_cookie_secure(self) -> bool:
        """Secure cookies unless told otherwise; development over plain http needs them off."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.env == "production" or self.base_url.startswith("https://")
    # Audit streaming (engine.services.audit_stream)
    audit_stream_interval_seconds: float = Field(2.0, gt=0, description="How often new audit rows are streamed.")
    audit_stream_max_backoff_seconds: float = Field(300.0, gt=0, description="Longest wait between retries "
                                                    "when the stream's receiver is down.")
    # Data governance: residency, exports, retention
    data_region: str = Field("local", description="Where this deployment keeps data (au-syd, au-mel, ...; "
                             "local = a development machine). Recorded in the database at first migration.")
    export_storage: Literal["local", "s3"] = "local"
    export_dir: str = "./exports"
    export_link_hours: float = Field(24.0, gt=0, le=24 * 30)
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    retention_interval_seconds: float = Field(3600.0, gt=0)
    retention_batch_rows: int = Field(1000, ge=10, le=1000, description="Most rows one retention "
                                      "transaction deletes (keeps locks short while intake goes on).")
    export_poll_seconds: float = Field(2.0, gt=0)
    retention_pause_seconds: float = Field(0.05, ge=0, le=10, description="Pause between retention batches, "
                                           "so intake writes get the database between them (SQLite has one writer; "
                                           "there, five times as long while intake is busy).")
    # System mail (invitations, password resets, verification): engine/mail
    smtp_url: SecretStr | None = Field(None, description="smtp://user:pass@host:587 (STARTTLS when offered) or "
                                       "smtps://user:pass@host:465; unset = mails go to mail_outbox_dir.")
    mail_from: str = "FlowMate <flowmate@localhost>"
    mail_outbox_dir: str = "./mail-outbox"

    # Sign-in with OpenID Connect (engine/services/oidc.py)
    oidc_google_client_id: str = ""
    oidc_google_client_secret: SecretStr = SecretStr("")
    oidc_microsoft_client_id: str = ""
    oidc_microsoft_client_secret: SecretStr = SecretStr("")
    oidc_microsoft_tenant: str = Field("common", description="'common', 'organizations' or a tenant id/domain")
    oidc_providers: list[dict[str, str]] = Field(
        default_factory=list,
        description='More providers as JSON: [{"id": "okta", "name": "Okta", "discovery_url": "https://.../'
                    '.well-known/openid-configuration", "client_id": "...", "client_secret": "..."}]',
    )

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _split_cidrs(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("old_secret_keys", "cors_origins", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, value: str) -> str:
        """Accept plain postgres URLs but always talk to PostgreSQL through psycopg 3."""
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("data_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in DEPLOYMENT_REGIONS:
            raise ValueError(f"FLOWMATE_DATA_REGION {value!r} is not a known region; use one of "
                             f"{', '.join(DEPLOYMENT_REGIONS)}")
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        key = self.secret_key.get_secret_value()
        if self.env == "production" and (key == DEV_SECRET_KEY or len(key) < 32):
            raise ValueError(
                "FLOWMATE_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production (generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return self

    @property
    def embedded_queue(self) -> bool:
        """No Redis URL: the broker and the workers live inside this process."""
        return not self.redis_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
