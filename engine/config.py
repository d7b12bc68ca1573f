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


class Settings(BaseSettings):
    """Every FLOWMATE_* variable, with defaults that make `make run` work alone."""

    model_config = SettingsConfigDict(env_prefix="FLOWMATE_", env_file=".env", extra="ignore")

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
