"""A database that cannot be used at start-up: one line naming the host and port (never the
password) and the cause, a non-zero exit, no traceback. `make run` and `make migrate` alike."""

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.local_servers.ports import closed_port
from devtools.local_servers.postgres import PrivatePostgres
from tests.e2e.server import run_manage
from tests.postgres_server import PostgresServer
from tests.system_services import own_postgres

pytestmark = pytest.mark.e2e
SECRET = "not-this-one-8f3a"


@pytest.fixture(scope="module")
def postgres_with_a_password() -> Iterator[PrivatePostgres]:
    yield from own_postgres(password="the-right-one-1d9c")


def assert_one_line(database_url: URL, command: str, *expected: str) -> None:
    result = run_manage(database_url, *command.split())
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Database error: {database_url.host}:{database_url.port}: ")
    for words in expected:
        assert words in lines[0]
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["migrate", "serve", "serve --skip-migrations", "worker"])
def test_postgresql_unreachable(command: str) -> None:
    url = make_url(f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:{closed_port()}/app")
    assert_one_line(url, command, "connection refused")


def test_a_host_that_does_not_resolve() -> None:
    url = make_url(f"postgresql+asyncpg://postgres:{SECRET}@no-such-host.invalid:5432/app")
    assert_one_line(url, "migrate", "does not resolve")


@pytest.mark.parametrize("command", ["migrate", "serve --skip-migrations", "worker"])
def test_a_wrong_password(postgres_with_a_password: PrivatePostgres, command: str) -> None:
    url = postgres_with_a_password.url("app").set(password=SECRET)
    assert_one_line(url, command, 'password authentication failed for user "postgres"')


async def test_a_missing_database_the_user_may_not_create(postgres: PostgresServer) -> None:
    role = f"modulith_nocreate_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(postgres.url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'"))
    try:
        url = make_url(postgres.url).set(username=role, password=SECRET, database="never_made")
        assert_one_line(url, "migrate", '"never_made" does not exist', f'"{role}" may not create')
    finally:
        async with engine.connect() as connection:
            await connection.execute(text(f"DROP ROLE {role}"))
        await engine.dispose()
