"""PostgreSQL restarted, crashed and out of connections under write load, with the real server
in a subprocess and a PostgreSQL server of the test's own (devtools/local_servers/postgres.py).

What must hold: every answer is a 2xx or a 503 envelope (never a 500), every write answered
2xx is in the database afterwards, and the API recovers by itself.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.local_servers.postgres import PrivatePostgres
from shared.data.db import asyncpg_dsn
from tests.e2e.server import serving_fresh_database
from tests.e2e.write_load import WRITERS, WriteLoad, stored_ids, write_load
from tests.system_services import own_postgres

pytestmark = pytest.mark.e2e
RECOVERY_TIMEOUT_SECONDS = 15.0


@pytest.fixture
def postgres_to_restart() -> Iterator[PrivatePostgres]:
    yield from own_postgres()


@pytest.fixture
def postgres_with_few_connections() -> Iterator[PrivatePostgres]:
    # Fewer than the API's pool (10 + 10 overflow) and its worker want under load.
    yield from own_postgres(max_connections="6", superuser_reserved_connections="0")


def assert_only_503_envelopes(load: WriteLoad) -> None:
    assert load.errors == []
    statuses = {response.status_code for response in load.refused}
    assert statuses <= {503}, [
        (r.status_code, r.text) for r in load.refused if r.status_code != 503
    ]
    assert {r.json()["error"]["code"] for r in load.refused} <= {"SERVICE_UNAVAILABLE"}


async def test_restart_and_crash_under_write_load_lose_nothing_and_answer_only_503(
    postgres_to_restart: PrivatePostgres, tmp_path: Path
) -> None:
    postgres = postgres_to_restart
    async with (
        serving_fresh_database(postgres.url(), tmp_path / "log") as (server, url),
        write_load(server.base_url) as load,
    ):
        assert await load.created_since(WRITERS, RECOVERY_TIMEOUT_SECONDS)
        await asyncio.to_thread(postgres.restart)
        assert await load.created_since(len(load.created), RECOVERY_TIMEOUT_SECONDS)
        await asyncio.to_thread(postgres.stop, "immediate")  # a crash
        await asyncio.sleep(1.0)  # down for a while: requests keep coming
        await asyncio.to_thread(postgres.start)  # crash recovery, then accepting again
        recovered = await load.created_since(len(load.created), RECOVERY_TIMEOUT_SECONDS)
        await load.finish()
        assert recovered, "no write succeeded after PostgreSQL came back"

        # Idle pooled connections that a restart ended cost no request.
        await asyncio.to_thread(postgres.restart)
        ready = [(await load.client.get("/ready")).status_code for _ in range(4)]
        created = await load.client.post(
            "/api/v1/items", json={"title": "after", "price": "1.00"}, headers=load.headers
        )
        missing = set(load.created) - await stored_ids(asyncpg_dsn(url))

    assert_only_503_envelopes(load)
    assert load.refused, "the faults were seen by clients (the run really went through them)"
    assert ready == [200] * 4
    assert created.status_code == 201
    assert missing == set()  # every 2xx write is in the database
    assert "unhandled_exception" not in server.output()


async def test_out_of_connections_is_503_not_500(
    postgres_with_few_connections: PrivatePostgres, tmp_path: Path
) -> None:
    async with (
        serving_fresh_database(postgres_with_few_connections.url(), tmp_path / "log") as (
            server,
            url,
        ),
        write_load(server.base_url) as load,
    ):
        served = await load.created_since(WRITERS * 4, RECOVERY_TIMEOUT_SECONDS)
        await load.finish()
        await server.stop()  # its pool holds every connection the server allows
        stored = await stored_ids(asyncpg_dsn(url))

    assert served
    assert_only_503_envelopes(load)
    assert load.refused, "the server ran out of connections (the test reached its limit)"
    assert "too many clients" in server.output() or "TooManyConnections" in server.output()
    assert set(load.created) <= stored
