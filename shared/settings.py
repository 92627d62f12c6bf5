"""Every setting (README, "Configuration"; all of them in .env.example), typed, read from the
environment or `.env`.

`load_settings()` is what processes call at start-up: a bad value becomes one line on
stderr naming the variable and a non-zero exit, never a traceback.
"""

import ipaddress
import json
import sys
from functools import cached_property
from typing import Annotated, Any, Literal, Self

import limits
from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

# Committed on purpose so `make run` works out of the box; production refuses it.
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"  # noqa: S105


def _split_list(value: Any) -> Any:
    """Accept a JSON list (`["a","b"]`) or a comma-separated string (`a,b`)."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    if value.startswith("["):
        return json.loads(value)
    return [part.strip() for part in value.split(",") if part.strip()]


StrList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        # `REDIS_URL=` (as in .env.example) means "not set": the default applies.
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    environment: Literal["development", "test", "production"] = "development"

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/app"
    db_pool_size: int = Field(10, ge=1)
    db_max_overflow: int = Field(10, ge=0)
    db_pool_timeout: float = Field(5.0, gt=0, description="seconds to wait for a pooled connection")
    db_statement_timeout_ms: int = Field(15_000, gt=0)
    db_connect_timeout: float = Field(5.0, gt=0, description="seconds to open a connection")
    db_pgbouncer: bool = Field(
        False, description="true behind PgBouncer in transaction pooling mode"
    )
    db_lock_timeout_ms: int = Field(
        2_000,
        gt=0,
        description="a statement waiting this long for a lock gives up (503): a table lock"
        " cannot hold every pooled connection for the whole statement timeout",
    )

    database_read_url: str | None = Field(
        None,
        description="a streaming replica of DATABASE_URL: reads of requests that change"
        " nothing go there while it keeps up",
    )
    read_your_writes_seconds: float = Field(
        5, ge=0, description="a client that wrote this recently reads from the primary"
    )
    replica_max_lag_seconds: float = Field(
        5, gt=0, description="a replica further behind than this gets no reads"
    )

    redis_url: str | None = None

    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    access_token_expire_minutes: int = Field(15, ge=1)
    refresh_token_expire_days: int = Field(7, ge=1)
    reauth_window_minutes: int = Field(
        10, ge=1, description="how recent a password proof sensitive routes need (sudo mode)"
    )
    session_max_days: int = Field(
        30, ge=1, description="a login session ends this long after its login, refreshed or not"
    )
    require_verified_login: bool = False
    login_failures_before_delay: int = Field(
        5, ge=1, description="consecutive failed logins of one account before it is delayed"
    )
    login_delay_max_minutes: int = Field(
        15, ge=1, description="the cap of the doubling delay (1, 2, 4, ... minutes)"
    )
    refresh_reuse_grace_seconds: int = Field(
        10,
        ge=0,
        description="a refresh token presented again this soon after its first use gets a new"
        " pair of the same session instead of ending it (concurrent refreshes); 0 = strict",
    )
    emails_per_address_per_hour: int = Field(
        3, ge=1, description="password-reset and verification e-mails one address gets an hour"
    )
    audit_retention_days: int = Field(365, ge=1, description="audit entries older are purged")
    export_retention_days: int = Field(
        7, ge=1, description="how long a personal-data export can be downloaded, then purged"
    )

    allowed_origins: StrList = Field(
        default_factory=lambda data: (
            [] if data["environment"] == "production" else ["http://localhost:3000"]
        )
    )
    trusted_proxies: StrList = []

    rate_limit_enabled: bool = True
    rate_limit_default: str = "300/minute"
    rate_limit_login: str = "10/minute"
    rate_limit_sensitive: str = "5/minute"

    max_body_bytes: int = Field(1_048_576, ge=0)

    email_backend: Literal["console", "smtp"] = "console"
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    email_from: str = "modulith <noreply@localhost>"
    frontend_url: AnyHttpUrl = AnyHttpUrl("http://localhost:3000")

    first_superuser_email: str | None = None
    first_superuser_password: SecretStr | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["console", "json"] = Field(
        default_factory=lambda data: "console" if data["environment"] == "development" else "json"
    )
    docs_enabled: bool = Field(default_factory=lambda data: data["environment"] != "production")

    otel_exporter_otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP collector (http://host:4318): traces are exported there"
    )
    metrics_token: SecretStr | None = Field(
        None, description="when set, /metrics asks for it as a bearer token"
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1)
    shutdown_drain_seconds: float = Field(
        default_factory=lambda data: 0 if data["environment"] == "development" else 5,
        ge=0,
        description="after SIGTERM, /ready answers 503 and requests are still served this long"
        " before the server stops accepting",
    )
    keepalive_timeout_seconds: int = Field(
        75, gt=0, description="idle keep-alive connections are closed after this"
    )
    # The edge's (deploy/haproxy/haproxy.cfg reads them from its environment; `make stack`
    # passes these): the API nodes behind it never see a client that breaks them.
    max_header_bytes: int = Field(
        65_536, ge=1024, description="a request whose headers are larger is answered 431"
    )
    client_header_timeout_seconds: float = Field(
        10,
        gt=0,
        description="a client must send its request (headers and a body up to 72 KiB) within"
        " this; the edge rounds it up to whole seconds",
    )

    modules: StrList | None = Field(
        None,
        description="the modules this process serves and whose jobs and subscribers it runs"
        " (comma-separated names, or all); main.py checks the names and their dependencies",
    )

    worker_in_process: bool = Field(
        default_factory=lambda data: data["environment"] != "production"
    )
    worker_metrics_port: int | None = Field(
        None, ge=1, le=65535, description="where `manage.py worker` serves Prometheus metrics"
    )
    job_max_attempts: int = Field(10, ge=1)
    job_timeout_seconds: float = Field(60.0, gt=0, description="a handler is cut off after this")
    job_retry_delay_seconds: float = Field(
        2.0, gt=0, description="the first retry's delay; each next one waits twice as long"
    )

    @field_validator("allowed_origins", "trusted_proxies", "modules", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("modules")
    @classmethod
    def _all_modules(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None or value == ["all"] else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _asyncpg_only(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = make_url(value)
        except Exception as exc:
            raise ValueError("is not a database URL") from exc
        if url.drivername != "postgresql+asyncpg":
            raise ValueError("must use the postgresql+asyncpg driver (postgresql+asyncpg://...)")
        if not url.database:
            raise ValueError("must name a database")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _ip_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry)
            except ValueError as exc:
                try:
                    network = ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not an IP address or network") from exc
                # uvicorn silently ignores such an entry, and every client would then count
                # as the proxy's address.
                raise ValueError(f"{entry!r} has host bits set (the network is {network})") from exc
        return value

    @field_validator("rate_limit_default", "rate_limit_login", "rate_limit_sensitive")
    @classmethod
    def _rate_limit_syntax(cls, value: str) -> str:
        # Parsed the way slowapi will parse it: slowapi itself would only log a bad rate and
        # leave the route unlimited.
        try:
            rates = limits.parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as '10/minute'") from None
        if any(rate.amount < 1 for rate in rates):
            raise ValueError(f"{value!r} allows no request at all")
        return value.strip()

    @model_validator(mode="after")
    def _environment_rules(self) -> Self:
        if self.environment == "production":
            secret = self.secret_key.get_secret_value()
            if secret == DEVELOPMENT_SECRET_KEY or len(secret) < 32:
                raise ValueError(
                    "SECRET_KEY: must be set to a value of at least 32 characters in production"
                )
            if "*" in self.allowed_origins:
                raise ValueError("ALLOWED_ORIGINS: '*' is refused in production")
            if self.email_backend == "console":
                raise ValueError(
                    "EMAIL_BACKEND: console is refused in production (it would write reset and"
                    " verification tokens into the logs); set smtp and SMTP_HOST"
                )
        if self.email_backend == "smtp" and not self.smtp_host:
            raise ValueError("SMTP_HOST: must be set when EMAIL_BACKEND=smtp")
        if self.database_read_url and not self.redis_url:
            raise ValueError(
                "DATABASE_READ_URL: needs REDIS_URL (every process must know who wrote"
                " recently, to send their reads to the primary)"
            )
        if self.first_superuser_email and not self.first_superuser_password:
            raise ValueError("FIRST_SUPERUSER_PASSWORD: must be set with FIRST_SUPERUSER_EMAIL")
        if self.first_superuser_password and not self.first_superuser_email:
            raise ValueError("FIRST_SUPERUSER_EMAIL: must be set with FIRST_SUPERUSER_PASSWORD")
        return self

    @cached_property
    def database(self) -> URL:
        return make_url(self.database_url)

    @cached_property
    def database_read(self) -> URL | None:
        return make_url(self.database_read_url) if self.database_read_url else None


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each offending variable, e.g. `DB_POOL_SIZE: Input should be ...`."""
    problems = []
    for item in error.errors(include_url=False):
        if item["type"] == "default_factory_not_called":  # a consequence, not a cause
            continue
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["loc"]:
            problems.append(f"{str(item['loc'][0]).upper()}: {message}")
        else:  # model-level rules already start with the variable's name
            problems.append(message)
    return "; ".join(problems)


def load_settings() -> Settings:
    """Settings for a starting process; exits with one line if the configuration is bad."""
    try:
        return Settings()
    except ValidationError as error:
        sys.exit(f"Configuration error: {describe_validation_error(error)}")
