import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.settings import DEVELOPMENT_SECRET_KEY, Settings, describe_validation_error

ROOT = Path(__file__).resolve().parents[2]
STRONG_SECRET = "s" * 32


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def error_line(**values: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        settings(**values)
    return describe_validation_error(raised.value)


def test_defaults_follow_operations_md() -> None:
    s = settings()
    assert s.environment == "development"
    assert s.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5432/app"
    assert (s.db_pool_size, s.db_max_overflow, s.db_pool_timeout) == (10, 10, 5.0)
    assert s.db_statement_timeout_ms == 15000
    assert (s.access_token_expire_minutes, s.refresh_token_expire_days) == (15, 7)
    assert s.allowed_origins == ["http://localhost:3000"]
    assert (s.rate_limit_default, s.rate_limit_login, s.rate_limit_sensitive) == (
        "300/minute",
        "10/minute",
        "5/minute",
    )
    assert s.max_body_bytes == 1_048_576
    assert (s.log_level, s.log_format, s.docs_enabled) == ("INFO", "console", True)
    assert (s.host, s.port, s.workers) == ("127.0.0.1", 8000, 1)
    assert s.redis_url is None and s.trusted_proxies == []
    assert s.refresh_reuse_grace_seconds == 10
    assert s.db_pgbouncer is False and s.db_lock_timeout_ms == 2000
    assert (s.shutdown_drain_seconds, s.keepalive_timeout_seconds) == (0, 75)
    assert (s.max_header_bytes, s.client_header_timeout_seconds) == (65536, 10)
    assert s.database_read_url is None
    assert (s.read_your_writes_seconds, s.replica_max_lag_seconds) == (5, 5)
    assert s.modules is None  # every module
    assert s.export_retention_days == 7


PRODUCTION = {
    "environment": "production",
    "secret_key": STRONG_SECRET,
    "email_backend": "smtp",
    "smtp_host": "mail.example.com",
}


def test_production_defaults_are_strict() -> None:
    s = settings(**PRODUCTION)
    assert s.allowed_origins == []
    assert s.docs_enabled is False
    assert s.log_format == "json"
    assert s.shutdown_drain_seconds == 5


def test_explicit_values_win_over_environment_defaults() -> None:
    s = settings(**PRODUCTION, docs_enabled=True)
    assert s.docs_enabled is True


@pytest.mark.parametrize("secret", [None, DEVELOPMENT_SECRET_KEY, "x" * 31])
def test_production_refuses_a_missing_default_or_short_secret_key(secret: str | None) -> None:
    values = {"environment": "production"} | ({"secret_key": secret} if secret else {})
    assert error_line(**values).startswith("SECRET_KEY:")


def test_production_refuses_a_wildcard_origin() -> None:
    line = error_line(**PRODUCTION, allowed_origins="*")
    assert line.startswith("ALLOWED_ORIGINS:")


def test_production_refuses_the_console_email_backend() -> None:
    line = error_line(**(PRODUCTION | {"email_backend": "console"}))
    assert line.startswith("EMAIL_BACKEND: console is refused in production")
    assert settings(environment="development").email_backend == "console"  # the default


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1/app",
        "postgresql+psycopg://postgres@127.0.0.1/app",
        "sqlite:///app.db",
        "postgresql+asyncpg://postgres@127.0.0.1",
        "not a url",
    ],
)
def test_database_url_must_be_asyncpg_with_a_database(url: str) -> None:
    assert error_line(database_url=url).startswith("DATABASE_URL:")


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ('["http://a.example", "http://b.example"]', ["http://a.example", "http://b.example"]),
        ("http://a.example, http://b.example", ["http://a.example", "http://b.example"]),
        ("[]", []),
    ],
)
def test_lists_accept_json_or_comma_separated_values(
    raw: str, parsed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", raw)
    assert settings().allowed_origins == parsed


def test_trusted_proxies_must_be_ip_addresses_or_networks() -> None:
    assert settings(trusted_proxies="10.0.0.1,192.168.0.0/16").trusted_proxies == [
        "10.0.0.1",
        "192.168.0.0/16",
    ]
    assert error_line(trusted_proxies="10.0.0.1,proxy.local").startswith("TRUSTED_PROXIES:")


@pytest.mark.parametrize("network", ["10.0.0.1/8", "2001:db8::1/64"])
def test_a_trusted_network_with_host_bits_set_is_refused(network: str) -> None:
    # uvicorn would ignore it silently, and every client would count as the proxy.
    line = error_line(trusted_proxies=network)
    assert line.startswith("TRUSTED_PROXIES:")
    assert "host bits set" in line


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"db_pool_size": 0}, "DB_POOL_SIZE"),
        ({"db_statement_timeout_ms": 0}, "DB_STATEMENT_TIMEOUT_MS"),
        ({"port": 70000}, "PORT"),
        ({"rate_limit_login": "ten per minute"}, "RATE_LIMIT_LOGIN"),
        ({"rate_limit_default": "10/fortnight"}, "RATE_LIMIT_DEFAULT"),
        ({"rate_limit_sensitive": "0/minute"}, "RATE_LIMIT_SENSITIVE"),
        ({"redis_url": "http://127.0.0.1:6379"}, "REDIS_URL"),
        ({"log_level": "LOUD"}, "LOG_LEVEL"),
        ({"email_backend": "smtp"}, "SMTP_HOST"),
        ({"first_superuser_email": "root@example.com"}, "FIRST_SUPERUSER_PASSWORD"),
        ({"first_superuser_password": "long enough"}, "FIRST_SUPERUSER_EMAIL"),
        ({"refresh_reuse_grace_seconds": -1}, "REFRESH_REUSE_GRACE_SECONDS"),
        ({"shutdown_drain_seconds": -1}, "SHUTDOWN_DRAIN_SECONDS"),
        ({"keepalive_timeout_seconds": 0}, "KEEPALIVE_TIMEOUT_SECONDS"),
        ({"max_header_bytes": 100}, "MAX_HEADER_BYTES"),
        ({"client_header_timeout_seconds": "soon"}, "CLIENT_HEADER_TIMEOUT_SECONDS"),
        ({"database_read_url": "postgresql://replica/app"}, "DATABASE_READ_URL"),
        ({"database_read_url": "postgresql+asyncpg://replica/app"}, "DATABASE_READ_URL"),
        ({"read_your_writes_seconds": -1}, "READ_YOUR_WRITES_SECONDS"),
        ({"replica_max_lag_seconds": 0}, "REPLICA_MAX_LAG_SECONDS"),
    ],
)
def test_bad_values_are_reported_by_variable_name(values: dict[str, Any], variable: str) -> None:
    assert error_line(**values).startswith(f"{variable}:")


def test_modules_is_a_list_of_names_or_all() -> None:
    assert settings(modules="health, users,auth").modules == ["health", "users", "auth"]
    assert settings(modules='["audit"]').modules == ["audit"]
    assert settings(modules="all").modules is None


def test_a_replica_needs_redis_for_read_your_writes() -> None:
    replica = "postgresql+asyncpg://replica:5432/app"
    assert "REDIS_URL" in error_line(database_read_url=replica)
    assert settings(database_read_url=replica, redis_url="redis://127.0.0.1:6379/0").database_read


def test_several_bad_values_are_reported_on_one_line() -> None:
    line = error_line(db_pool_size="many", port=0)
    assert "\n" not in line
    assert "DB_POOL_SIZE:" in line and "PORT:" in line


def test_empty_values_mean_unset_so_env_example_works_as_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in Settings.model_fields:  # only the file speaks, not the developer's shell
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    s = Settings()
    assert s.redis_url is None
    assert s.allowed_origins == ["http://localhost:3000"]
    assert (s.log_format, s.docs_enabled) == ("console", True)
    assert s.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY


def test_env_example_lists_every_setting() -> None:
    listed = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert listed == {name.upper() for name in Settings.model_fields}


def test_log_level_is_case_insensitive() -> None:
    assert settings(log_level="debug").log_level == "DEBUG"


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "manage.py", "serve"],
        [sys.executable, "-m", "uvicorn", "--factory", "main:create_app", "--port", "1"],
    ],
    ids=["make-run", "uvicorn-factory"],
)
def test_bad_configuration_stops_start_up_with_one_line_naming_the_variable(
    command: list[str],
) -> None:
    env = {**os.environ, "DB_POOL_SIZE": "lots", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "Configuration error: DB_POOL_SIZE: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
    assert "Traceback" not in result.stdout + result.stderr
