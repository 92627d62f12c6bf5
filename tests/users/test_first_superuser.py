"""The first superuser: at start-up from the settings, and from the command line."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from subprocess import CompletedProcess

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from modules.users.public import ensure_superuser
from shared.data.provisioning import drop_database
from tests.accounts import PASSWORD, login, new_email
from tests.conftest import forget_committed_user, http_client
from tests.e2e.server import run_manage
from tests.postgres_server import PostgresServer


@pytest.fixture
async def email(engine: AsyncEngine) -> AsyncIterator[str]:
    address = new_email("root")
    yield address
    await forget_committed_user(engine, "lower(email) = lower(:e)", e=address)


async def stored(engine: AsyncEngine, email: str) -> list[tuple[bool, bool, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT is_superuser, is_verified, hashed_password FROM users WHERE email = :e"),
            {"e": email},
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def test_start_up_creates_the_first_superuser_once_and_never_overwrites_it(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine, email: str
) -> None:
    app = app_factory(first_superuser_email=email, first_superuser_password=PASSWORD)
    async with app.router.lifespan_context(app), http_client(app) as client:
        tokens = await login(client, email)
        me = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
    assert (me.json()["is_superuser"], me.json()["is_verified"]) == (True, True)
    [(_, _, first_hash)] = await stored(engine, email)

    restarted = app_factory(first_superuser_email=email, first_superuser_password="changed-pw-123")
    async with restarted.router.lifespan_context(restarted):
        pass
    assert await stored(engine, email) == [(True, True, first_hash)]


async def test_workers_starting_together_create_one_superuser(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine, email: str
) -> None:
    container = app_factory().state.container
    results = await asyncio.gather(
        *(
            ensure_superuser(
                container.session_factory(),
                container.users.user_manager,
                email=email,
                password=PASSWORD,
            )
            for _ in range(4)
        )
    )
    await container.engine().dispose()
    assert sorted(results) == [False, False, False, True]
    assert len(await stored(engine, email)) == 1


@pytest.fixture
async def cli_database(postgres: PostgresServer) -> AsyncIterator[URL]:
    url = make_url(postgres.url).set(database=f"modulith_cli_{uuid.uuid4().hex[:12]}")
    yield url
    await drop_database(url)


def create_superuser(database: URL, email: str, password: str) -> CompletedProcess[str]:
    return run_manage(database, "create-superuser", "--email", email, "--password", password)


def test_the_command_line_creates_a_superuser_and_leaves_an_existing_one(
    cli_database: URL,
) -> None:
    first = run_manage(
        cli_database, "create-superuser", "--email", "root@example.com", "--password", PASSWORD
    )
    assert first.returncode == 0, first.stderr
    assert "Superuser root@example.com created." in first.stdout
    again = run_manage(
        cli_database,
        "create-superuser",
        "--email",
        "ROOT@example.com",
        "--password",
        "another-pw-1",
    )
    assert again.returncode == 0
    assert "already exists; left unchanged" in again.stdout
    weak = run_manage(
        cli_database, "create-superuser", "--email", "other@example.com", "--password", "short"
    )
    assert weak.returncode != 0
    assert weak.stderr.strip().splitlines() == [
        "Password refused: Password must be 8 to 128 characters"
    ]
