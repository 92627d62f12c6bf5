"""PostgreSQL restarted, crashed and out of connections under write load, with the real server
in a subprocess and a PostgreSQL server of the test's own (tests/private_postgres.py).

What must hold: every answer is a 2xx or a 503 envelope (never a 500), every write answered
2xx is in the database afterwards, and the API recovers by itself.
"""

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.db import asyncpg_dsn
from tests.accounts import bearer, login, new_email, register
from tests.e2e.server import RunningServer, start_server
from tests.private_postgres import PrivatePostgres, own_postgres

pytestmark = pytest.mark.e2e
WRITERS = 32
RECOVERY_TIMEOUT_SECONDS = 15.0


@pytest.fixture
def postgres_to_restart() -> Iterator[PrivatePostgres]:
    yield from own_postgres()


@pytest.fixture
def postgres_with_few_connections() -> Iterator[PrivatePostgres]:
    # Fewer than the API's pool (10 + 10 overflow) and its worker want under load.
    yield from own_postgres(max_connections="6", superuser_reserved_connections="0")


@dataclass
class WriteLoad:
    """WRITERS clients creating items until told to stop; every answer is kept."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    created: list[str] = field(default_factory=list)  # ids answered 201
    refused: list[httpx.Response] = field(default_factory=list)  # anything else
    errors: list[str] = field(default_factory=list)  # no answer at all
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _writer(self, number: int) -> None:
        sent = 0
        while not self.stop.is_set():
            sent += 1
            body = {"title": f"writer {number} item {sent}", "price": "1.00"}
            try:
                response = await self.client.post("/api/v1/items", json=body, headers=self.headers)
            except httpx.TransportError as error:
                self.errors.append(repr(error))
                continue
            if response.status_code == 201:
                self.created.append(response.json()["id"])
            else:
                self.refused.append(response)
                await asyncio.sleep(0.05)  # as a client backing off on 503

    async def created_since(self, count: int, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if len(self.created) > count:
                return True
            await asyncio.sleep(0.05)
        return False

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._writer(number)) for number in range(WRITERS)]


async def serve(postgres: PrivatePostgres, tmp_path: Path) -> tuple[RunningServer, str]:
    url = postgres.url(f"modulith_{uuid.uuid4().hex[:8]}")
    server = await start_server(url.render_as_string(hide_password=False), tmp_path / "log")
    return server, asyncpg_dsn(url)


async def stored_ids(dsn: str) -> set[str]:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        return {str(row["id"]) for row in await connection.fetch("SELECT id FROM items")}
    finally:
        await connection.close()


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
    server, dsn = await serve(postgres, tmp_path)
    limits = httpx.Limits(max_connections=WRITERS + 4)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as client:
            email = new_email("writer")
            await register(client, email)
            load = WriteLoad(client, bearer((await login(client, email))["access_token"]))
            writers = load.start()
            assert await load.created_since(WRITERS, RECOVERY_TIMEOUT_SECONDS)

            await asyncio.to_thread(postgres.restart)
            assert await load.created_since(len(load.created), RECOVERY_TIMEOUT_SECONDS)
            await asyncio.to_thread(postgres.stop, "immediate")  # a crash
            await asyncio.sleep(1.0)  # down for a while: requests keep coming
            await asyncio.to_thread(postgres.start)  # crash recovery, then accepting again
            recovered = await load.created_since(len(load.created), RECOVERY_TIMEOUT_SECONDS)

            load.stop.set()
            await asyncio.gather(*writers)
            assert recovered, "no write succeeded after PostgreSQL came back"

            # Idle pooled connections that a restart ended cost no request.
            await asyncio.to_thread(postgres.restart)
            ready = [(await client.get("/ready")).status_code for _ in range(4)]
            created = await client.post(
                "/api/v1/items", json={"title": "after", "price": "1.00"}, headers=load.headers
            )
    finally:
        await server.stop()

    assert_only_503_envelopes(load)
    assert load.refused, "the faults were seen by clients (the run really went through them)"
    assert ready == [200] * 4
    assert created.status_code == 201
    missing = set(load.created) - await stored_ids(dsn)
    assert missing == set()  # every 2xx write is in the database
    assert "unhandled_exception" not in server.output()


async def test_out_of_connections_is_503_not_500(
    postgres_with_few_connections: PrivatePostgres, tmp_path: Path
) -> None:
    server, dsn = await serve(postgres_with_few_connections, tmp_path)
    limits = httpx.Limits(max_connections=WRITERS + 4)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as client:
            email = new_email("crowd")
            await register(client, email)
            load = WriteLoad(client, bearer((await login(client, email))["access_token"]))
            writers = load.start()
            served = await load.created_since(WRITERS * 4, RECOVERY_TIMEOUT_SECONDS)
            load.stop.set()
            await asyncio.gather(*writers)
    finally:
        await server.stop()

    assert served
    assert_only_503_envelopes(load)
    assert load.refused, "the server ran out of connections (the test reached its limit)"
    assert "too many clients" in server.output() or "TooManyConnections" in server.output()
    assert set(load.created) <= await stored_ids(dsn)
