"""The e2e tests' default server: `manage.py serve` on a fresh database, default settings.
A test module that needs other settings (workers, drain, PgBouncer) defines its own
`server` fixture, which takes precedence over this one."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.server import RunningServer, serving_fresh_database
from tests.postgres_server import PostgresServer


@pytest.fixture
async def server(postgres: PostgresServer, tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with serving_fresh_database(postgres.url, tmp_path / "log") as (running, _):
        yield running
