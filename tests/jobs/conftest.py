"""Tests of background work share one database of their own, emptied of jobs before each."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.data.provisioning import drop_database
from tests.conftest import create_migrated_database
from tests.postgres_server import PostgresServer


@pytest.fixture(scope="package")
async def jobs_url(postgres: PostgresServer) -> AsyncIterator[URL]:
    url = await create_migrated_database(postgres, "jobs")
    yield url
    await drop_database(url)


@pytest.fixture
async def jobs_engine(jobs_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(jobs_url)
    async with engine.begin() as connection:
        await connection.execute(
            text("TRUNCATE pgqueuer, pgqueuer_log, pgqueuer_statistics, pgqueuer_schedules")
        )
    yield engine
    await engine.dispose()
