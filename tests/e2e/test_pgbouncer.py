"""The core flows through a real PgBouncer in transaction pooling mode with DB_PGBOUNCER=true:
migrations, register, login, items CRUD from concurrent clients sharing two
server connections, e-mail jobs done by the in-process worker."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL, make_url

from devtools.local_servers.pgbouncer import pgbouncer
from devtools.local_servers.programs import MissingProgram
from shared.data.provisioning import drop_database
from tests.accounts import bearer, login, new_email, register
from tests.e2e.server import RunningServer, start_server
from tests.postgres_server import PostgresServer
from tests.system_services import skip_unless_ci

pytestmark = pytest.mark.e2e
CLIENTS = 8
SERVER_CONNECTIONS = 2  # fewer than the clients: they must take turns on the server's


@pytest.fixture
def bouncer(postgres: PostgresServer) -> Iterator[URL]:
    try:
        with pgbouncer(make_url(postgres.url), server_connections=SERVER_CONNECTIONS) as url:
            yield url
    except MissingProgram as missing:
        skip_unless_ci(missing)


@pytest.fixture
async def server(
    bouncer: URL, postgres: PostgresServer, tmp_path: Path
) -> AsyncIterator[RunningServer]:
    database = f"modulith_pgbouncer_{uuid.uuid4().hex[:12]}"
    running = await start_server(
        bouncer.set(database=database).render_as_string(hide_password=False),
        tmp_path / "log",
        DB_PGBOUNCER="true",
    )
    yield running
    await running.stop()
    await drop_database(make_url(postgres.url).set(database=database))


async def items_crud(client: httpx.AsyncClient, headers: dict[str, str], number: int) -> None:
    item = {"title": f"through pgbouncer {number}", "price": "1.00"}
    created = await client.post("/api/v1/items", json=item, headers=headers)
    assert created.status_code == 201, created.text
    url = f"/api/v1/items/{created.json()['id']}"
    assert (await client.get(url, headers=headers)).status_code == 200
    patched = await client.patch(
        url, json={"title": "renamed"}, headers=headers | {"If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.text
    listed = await client.get("/api/v1/items", headers=headers, params={"limit": 100})
    assert listed.status_code == 200
    assert (await client.delete(url, headers=headers)).status_code == 204


async def test_the_core_flows_work_through_pgbouncer_in_transaction_mode(
    server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        emails = [new_email("bouncer") for _ in range(CLIENTS)]
        await asyncio.gather(*(register(client, email) for email in emails))
        tokens = await asyncio.gather(*(login(client, email) for email in emails))
        for _ in range(3):
            await asyncio.gather(
                *(
                    items_crud(client, bearer(pair["access_token"]), number)
                    for number, pair in enumerate(tokens)
                )
            )
        assert (await client.get("/ready")).status_code == 200
        for email in emails:  # each queues an e-mail job, in the request's transaction
            forgot = await client.post("/api/v1/auth/forgot-password", json={"email": email})
            assert forgot.status_code == 202

    # The in-process worker (polling: LISTEN hears nothing through transaction pooling) sends
    # them all; the console backend logs each.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        sent = [email for email in emails if f'"to": "{email}"' in server.output()]
        if len(sent) == len(emails):
            break
        await asyncio.sleep(0.2)
    assert len(sent) == len(emails)
    assert "prepared statement" not in server.output()
