"""Migrations are the only schema source: they apply, reverse, and match the models."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from shared.jobs.schema import engine_schema_changes
from shared.provisioning import alembic_config, drop_database
from tests.conftest import create_migrated_database
from tests.postgres_server import PostgresServer


@pytest.fixture
async def scratch_database(postgres: PostgresServer) -> AsyncIterator[URL]:
    url = await create_migrated_database(postgres, "migrations")
    yield url
    await drop_database(url)


async def test_models_and_migrations_do_not_drift(database_url: URL) -> None:
    # `alembic check`: autogenerate against the freshly migrated database finds nothing to do.
    await asyncio.to_thread(command.check, alembic_config(database_url))


async def test_the_job_queue_tables_are_what_the_installed_pgqueuer_expects(
    database_url: URL,
) -> None:
    # The queue engine's tables are left out of autogenerate; PgQueuer's own upgrade plan is
    # their drift check. A PgQueuer release with another schema fails here until a migration
    # brings the tables in step (`pgq upgrade --plan` prints its statements).
    assert await engine_schema_changes(database_url) == ()


async def test_a_changed_job_queue_table_is_caught(scratch_database: URL) -> None:
    engine = create_async_engine(scratch_database)
    async with engine.begin() as connection:
        await connection.execute(text("DROP INDEX pgqueuer_picked_heartbeat_idx"))
    await engine.dispose()
    assert any(
        "pgqueuer_picked_heartbeat_idx" in s for s in await engine_schema_changes(scratch_database)
    )


async def test_every_migration_downgrades_and_upgrades_again(scratch_database: URL) -> None:
    config = alembic_config(scratch_database)
    await asyncio.to_thread(command.downgrade, config, "base")
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(command.check, config)
    assert await engine_schema_changes(scratch_database) == ()


def test_there_is_a_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config(URL.create("postgresql+asyncpg")))
    assert len(script.get_heads()) <= 1


def test_every_constraint_and_index_gets_a_conventional_name() -> None:
    import main  # noqa: F401  (registers every module's models through migrations' path)

    for table in SQLModel.metadata.tables.values():
        for constraint in table.constraints:
            assert constraint.name, f"unnamed constraint on {table.name}"
        for index in table.indexes:
            prefix = "uq_" if index.unique else "ix_"
            assert index.name and index.name.startswith(prefix), f"{table.name}: {index.name}"
