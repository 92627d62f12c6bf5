"""The database harness (README, "Tests") and the app under test.

Per run: one uniquely named database on the selected server, migrated with
`alembic upgrade head`, dropped at the end. Per test: one connection inside a transaction
that is rolled back; the app's sessions join it through savepoints, so a commit in the app
(the unit of work, fastapi-users' adapter) stays inside the test.
"""

import asyncio
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.ext.asyncio import async_sessionmaker as sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from devtools.local_servers.mailbox import Mailbox, smtp_server
from main import create_app
from modules.users.passwords import PasswordHasher
from shared.data.provisioning import create_database_if_missing, drop_database, upgrade_to_head
from shared.settings import Settings
from tests.accounts import Account, create_account, grant_superuser
from tests.postgres_server import NoPostgresAvailable, PostgresServer, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        with postgres_server(os.environ) as server:
            yield server
    except NoPostgresAvailable as error:
        pytest.exit(str(error), returncode=4)


async def create_migrated_database(server: PostgresServer, purpose: str) -> URL:
    url = make_url(server.url).set(database=f"modulith_{purpose}_{uuid.uuid4().hex[:12]}")
    await create_database_if_missing(url)
    # Alembic's env.py runs its own event loop: give it a thread.
    await asyncio.to_thread(upgrade_to_head, url)
    return url


@pytest.fixture(scope="session")
async def database_url(postgres: PostgresServer) -> AsyncIterator[URL]:
    url = await create_migrated_database(postgres, "test")
    yield url
    await drop_database(url)


@pytest.fixture
async def scratch_database(postgres: PostgresServer) -> AsyncIterator[URL]:
    """A migrated database of the test's own, for tests that change its schema."""
    url = await create_migrated_database(postgres, "scratch")
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
async def engine(database_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture(scope="session")
def smtp() -> Iterator[Mailbox]:
    with smtp_server() as mailbox:
        yield mailbox


@pytest.fixture
def mailbox(smtp: Mailbox) -> Mailbox:
    smtp.messages.clear()
    return smtp


SECRET = "test-secret-key-that-is-at-least-32-characters"
# Suites send hundreds of requests from one address: limits are counted but never reached
# (tests/shared/test_rate_limit.py sets its own).
LIMITS_OUT_OF_REACH = {
    "rate_limit_default": "1000000/minute",
    "rate_limit_login": "1000000/minute",
    "rate_limit_sensitive": "1000000/minute",
}


def make_settings(url: URL, mailbox: Mailbox | None = None, **overrides: Any) -> Settings:
    """Settings for a test app: no .env, no Redis, mail to the test SMTP server, rate limits
    counted but out of reach (tests/shared/test_rate_limit.py sets its own)."""
    values: dict[str, Any] = {
        "environment": "test",
        **LIMITS_OUT_OF_REACH,
        "secret_key": SECRET,
        "database_url": url.render_as_string(hide_password=False),
        "redis_url": None,
        "frontend_url": "https://app.example.com",
        # Jobs are run by the tests that are about them (tests/jobs/), or
        # inside the test's transaction by `delivered`.
        "worker_in_process": False,
        **overrides,
    }
    if mailbox is not None:
        values |= {
            "email_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": mailbox.port,
            "smtp_starttls": False,
        }
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url: URL, mailbox: Mailbox) -> Settings:
    return make_settings(database_url, mailbox)


def build_app(settings: Settings, **options: Any) -> FastAPI:
    """The app (`create_app(settings, **options)`), its password hashing at Argon2's minimal
    cost: the suite creates hundreds of accounts. Production parameters are exercised by
    tests/users/test_passwords.py and e2e."""
    app = create_app(settings, **options)
    app.state.container.users.password_hasher.override(
        providers.Object(PasswordHasher.at_minimal_cost())
    )
    return app


def bind_to_connection(app: FastAPI, connection: AsyncConnection) -> None:
    """Make the app's sessions run inside the test's transaction."""
    factory = sessionmaker(
        bind=connection,
        class_=AsyncSession,
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
    )
    app.state.container.session_factory.override(providers.Object(factory))


@pytest.fixture
async def app(settings: Settings, connection: AsyncConnection) -> AsyncIterator[FastAPI]:
    app = build_app(settings)
    bind_to_connection(app, connection)
    async with app.router.lifespan_context(app):
        yield app


def http_client(app: FastAPI) -> httpx.AsyncClient:
    # raise_app_exceptions=False: the client sees what a real client would (the 500 envelope).
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def request_once(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to an app built by the test: lifespan started and stopped around it."""
    async with app.router.lifespan_context(app), http_client(app) as client:
        return await client.request(method, path, **kwargs)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as client:
        yield client


@pytest.fixture
def app_factory(database_url: URL, mailbox: Mailbox) -> Callable[..., FastAPI]:
    """Apps with their own settings and real sessions (real commits): for tests of the
    database kernel itself, of failures, and of other configurations."""

    def build(**overrides: Any) -> FastAPI:
        return build_app(make_settings(database_url, mailbox, **overrides))

    return build


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Account:
    return await create_account(client, "alice")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> Account:
    return await create_account(client, "bob")


@pytest.fixture
async def admin(client: httpx.AsyncClient, connection: AsyncConnection) -> Account:
    account = await create_account(client, "admin")
    await grant_superuser(connection, account)
    return account


async def forget_committed_user(engine: AsyncEngine, condition: str, **params: Any) -> None:
    """After a test whose requests really committed: delete its user (`condition` on users,
    cascading to what hangs off it) and the jobs those requests queued (audit records,
    e-mails), which no worker runs here and which `delivered` would otherwise pick up in a
    later test."""
    async with engine.begin() as connection:
        # The audit trail names users without a foreign key: its entries on them go by hand,
        # or a later test counting entries would find them.
        users = f"SELECT id FROM users WHERE {condition}"
        await connection.execute(
            text(f"DELETE FROM audit_events WHERE actor_id IN ({users}) OR target_id IN ({users})"),
            params,
        )
        await connection.execute(text(f"DELETE FROM users WHERE {condition}"), params)
        await connection.execute(text("DELETE FROM pgqueuer"))


async def delivered(app: FastAPI, connection: AsyncConnection) -> None:
    """Run the jobs the test's transaction has queued (e-mails, say), as a worker would, but
    inside that transaction: a worker on another connection could never see them. tests/jobs/
    covers the real worker."""
    queued = await connection.execute(
        text(
            "SELECT id, headers->>'task', payload, headers FROM pgqueuer"
            " WHERE status = 'queued' ORDER BY id"
        )
    )
    runner = app.state.container.job_runner()
    for job_id, task, payload, headers in queued.all():
        await connection.execute(text("DELETE FROM pgqueuer WHERE id = :id"), {"id": job_id})
        await runner.run(task, payload, headers)


class CapturedLogs(logging.Handler):
    """Log lines as the app renders them (its installed formatter), parsed from JSON."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def named(self, logger: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("logger") == logger]


@contextmanager
def capture_logs() -> Iterator[CapturedLogs]:
    """What the most recently built app logs (building an app configures logging anew)."""
    root = logging.getLogger()
    captured = CapturedLogs(root.handlers[0].formatter)
    root.addHandler(captured)
    try:
        yield captured
    finally:
        root.removeHandler(captured)


@pytest.fixture
def logs(app: FastAPI) -> Iterator[CapturedLogs]:
    """What the `app` fixture's app logs during the test (test settings log JSON)."""
    with capture_logs() as captured:
        yield captured


def pytest_report_header(config: pytest.Config) -> str:
    return "PostgreSQL: TEST_DATABASE_URL, else testcontainers, else 127.0.0.1:5432"
