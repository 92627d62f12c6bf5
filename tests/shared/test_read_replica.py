"""Reads on a real streaming replica (DATABASE_READ_URL): what goes there, read-your-writes,
the lag bound, and the fall back to the primary when the replica fails.

A private primary and a hot standby streaming from it (devtools/local_servers/postgres.py),
a private Redis for the read-your-writes marks, and apps with real commits. Replay on the
replica is paused to make it behind on purpose: a row then exists on the primary only, and
whether a client sees it says which database served the read.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from devtools.local_servers.postgres import PrivatePostgres, streaming_replica
from devtools.local_servers.programs import MissingProgram
from devtools.local_servers.redis import PrivateRedis, private_redis
from shared.api.route import ModuleRoute
from shared.data.db import SessionDep, asyncpg_dsn
from shared.data.provisioning import create_database_if_missing, upgrade_to_head
from shared.data.replica import is_replica_session
from tests.accounts import Account, create_account, create_api_key
from tests.conftest import build_app, make_settings
from tests.metrics import sample
from tests.system_services import own_postgres, skip_unless_ci

# Raw SQL needs SQLAlchemy's execute(), which SQLModel's session flags for ORM users.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:tests.shared.test_read_replica")
DATABASE = "app"
WINDOW_SECONDS = 1.0  # READ_YOUR_WRITES_SECONDS, short: the tests wait it out
WAIT_SECONDS = 15.0


@pytest.fixture(scope="module")
def primary() -> Iterator[PrivatePostgres]:
    yield from own_postgres()


@pytest.fixture(scope="module")
def replica(primary: PrivatePostgres) -> Iterator[PrivatePostgres]:
    asyncio.run(create_database_if_missing(primary.url(DATABASE)))
    upgrade_to_head(primary.url(DATABASE))
    with streaming_replica(primary) as replica:
        yield replica


@pytest.fixture(scope="module")
def redis() -> Iterator[PrivateRedis]:
    try:
        with private_redis() as redis:
            yield redis
    except MissingProgram as missing:
        skip_unless_ci(missing)


@pytest.fixture
def replica_app(
    primary: PrivatePostgres, replica: PrivatePostgres, redis: PrivateRedis
) -> Callable[..., FastAPI]:
    def build(tracer_provider: TracerProvider | None = None, **overrides: Any) -> FastAPI:
        settings = {
            "database_read_url": replica.url(DATABASE).render_as_string(hide_password=False),
            "redis_url": redis.url,
            "read_your_writes_seconds": WINDOW_SECONDS,
            "replica_max_lag_seconds": 60,
            **overrides,
        }
        settings_of_app = make_settings(primary.url(DATABASE), **settings)
        return build_app(settings_of_app, tracer_provider=tracer_provider)

    return build


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """The app started; `client(address)` is a client calling from that address."""
    clients: list[httpx.AsyncClient] = []

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return clients[-1]

    async with app.router.lifespan_context(app):
        try:
            yield client
        finally:
            for each in clients:
                await each.aclose()


async def sql(server: PrivatePostgres, statement: str, *args: Any) -> Any:
    connection = await asyncpg.connect(asyncpg_dsn(server.url(DATABASE)), timeout=10)
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


async def caught_up(primary: PrivatePostgres, replica: PrivatePostgres) -> None:
    """Until the replica has replayed all the primary has written so far."""
    target = await sql(primary, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + WAIT_SECONDS
    while not await sql(replica, "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target):
        assert time.monotonic() < deadline, "the replica did not catch up"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def replay_paused(replica: PrivatePostgres) -> AsyncIterator[None]:
    """The replica receives the primary's WAL but applies none of it: behind on purpose."""
    await sql(replica, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        await sql(replica, "SELECT pg_wal_replay_resume()")


async def replica_state(client: httpx.AsyncClient, expected: str) -> dict[str, Any]:
    """/ready, once it reports the replica `expected` (it is polled every second)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        ready = await client.get("/ready")
        if ready.json()["checks"]["replica"] == expected or time.monotonic() > deadline:
            body: dict[str, Any] = ready.json()
            assert ready.status_code == 200, body
            assert body["checks"]["replica"] == expected, body
            return body
        await asyncio.sleep(0.1)


async def new_item(client: httpx.AsyncClient, account: Account, title: str) -> str:
    created = await client.post(
        "/api/v1/items", json={"title": title, "price": "1.00"}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def titles(client: httpx.AsyncClient, account: Account) -> set[str]:
    listed = await client.get("/api/v1/items", headers=account.headers, params={"limit": 100})
    assert listed.status_code == 200, listed.text
    return {item["title"] for item in listed.json()["data"]}


async def read_sessions(client: httpx.AsyncClient, database: str) -> float:
    metrics = (await client.get("/metrics")).text
    return sample(metrics, "db_read_sessions_total", {"database": database}, missing=0.0)


async def settled_account(
    client: httpx.AsyncClient, primary: PrivatePostgres, replica: PrivatePostgres, name: str
) -> Account:
    """A new account, on the replica too, its client's read-your-writes window over."""
    account = await create_account(client, name)
    await caught_up(primary, replica)
    await asyncio.sleep(WINDOW_SECONDS)
    return account


async def test_a_client_reads_its_own_writes_from_the_primary_and_others_from_the_replica(
    replica_app: Callable[..., FastAPI], primary: PrivatePostgres, replica: PrivatePostgres
) -> None:
    async with serving(replica_app()) as client:
        at_home, on_the_road = client("10.0.0.1"), client("10.0.0.2")
        alice = await settled_account(at_home, primary, replica, "alice")
        assert (await replica_state(at_home, "ok"))["status"] == "ready"
        async with replay_paused(replica):
            await new_item(at_home, alice, "written while the replica is paused")
            # Within READ_YOUR_WRITES_SECONDS: from the address that wrote, and from another
            # address with the same account, the write is seen (read from the primary).
            assert "written while the replica is paused" in await titles(at_home, alice)
            assert "written while the replica is paused" in await titles(on_the_road, alice)
            await asyncio.sleep(WINDOW_SECONDS + 0.2)
            # The window over: the read goes to the replica, which has not replayed it.
            replica_reads = await read_sessions(at_home, "replica")
            assert "written while the replica is paused" not in await titles(at_home, alice)
            assert await read_sessions(at_home, "replica") == replica_reads + 1
        await caught_up(primary, replica)
        assert "written while the replica is paused" in await titles(at_home, alice)


async def test_a_replica_further_behind_than_the_bound_gets_no_reads(
    replica_app: Callable[..., FastAPI], primary: PrivatePostgres, replica: PrivatePostgres
) -> None:
    async with serving(replica_app(replica_max_lag_seconds=1)) as client:
        writer, reader = client("10.0.1.1"), client("10.0.1.2")
        alice = await settled_account(writer, primary, replica, "alice")
        async with replay_paused(replica):
            await new_item(writer, alice, "behind the lagging replica")
            ready = await replica_state(reader, "lagging")
            assert ready["status"] == "ready"  # the replica never makes the process unready
            await asyncio.sleep(WINDOW_SECONDS)
            assert "behind the lagging replica" in await titles(reader, alice)
        await replica_state(reader, "ok")


async def test_a_login_not_yet_on_the_replica_is_found_on_the_primary(
    replica_app: Callable[..., FastAPI], primary: PrivatePostgres, replica: PrivatePostgres
) -> None:
    async with serving(replica_app()) as client:
        here, elsewhere = client("10.0.2.1"), client("10.0.2.2")
        alice = await settled_account(here, primary, replica, "alice")
        async with replay_paused(replica):
            # A new login session: on the primary only. Used at once from another address
            # (nothing marks the token's owner as a recent writer: the login carried none).
            second_login = await here.post(
                "/api/v1/auth/jwt/login", data={"username": alice.email, "password": alice.password}
            )
            assert second_login.status_code == 200
            token = second_login.json()["access_token"]
            replica_reads = await read_sessions(elsewhere, "replica")
            me = await elsewhere.get(
                "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
            )
            assert me.status_code == 200, me.text
            assert me.json()["email"] == alice.email
            assert await read_sessions(elsewhere, "replica") == replica_reads + 1


async def test_an_api_key_read_on_the_replica_records_its_use_on_the_primary(
    replica_app: Callable[..., FastAPI], primary: PrivatePostgres, replica: PrivatePostgres
) -> None:
    async with serving(replica_app()) as client:
        owner, machine = client("10.0.3.1"), client("10.0.3.2")
        alice = await create_account(owner, "alice")
        key = await create_api_key(owner, alice, ["items:read"])
        await caught_up(primary, replica)
        await asyncio.sleep(WINDOW_SECONDS)
        replica_reads = await read_sessions(machine, "replica")
        listed = await machine.get(
            "/api/v1/items", headers={"Authorization": f"Bearer {key['key']}"}
        )
        assert listed.status_code == 200, listed.text
        assert await read_sessions(machine, "replica") == replica_reads + 1
        used = await sql(
            primary, "SELECT last_used_at FROM api_keys WHERE id = $1", uuid.UUID(key["id"])
        )
        assert used is not None


async def test_a_stopped_replica_costs_no_request_and_rejoins(
    replica_app: Callable[..., FastAPI], primary: PrivatePostgres, replica: PrivatePostgres
) -> None:
    async with serving(replica_app()) as client:
        reader = client("10.0.4.1")
        alice = await settled_account(reader, primary, replica, "alice")
        await new_item(client("10.0.4.2"), alice, "read while the replica is down")
        await asyncio.sleep(WINDOW_SECONDS)
        await titles(reader, alice)  # a pooled replica connection, for the stop to cut
        replica.stop("fast")
        try:
            # Before any poll has noticed: the read finds the replica gone, and the primary.
            for _ in range(3):
                assert "read while the replica is down" in await titles(reader, alice)
            assert (await replica_state(reader, "error"))["status"] == "ready"
        finally:
            replica.start()
        await replica_state(reader, "ok")


probe = APIRouter(route_class=ModuleRoute)


@probe.get("/probe/replica-dies-under-me")
async def replica_dies_under_me(session: SessionDep) -> dict[str, str]:
    if is_replica_session(session):
        # The replica ends this very connection, mid-request, as a crash would.
        await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return {"read_from": "a replica that did not die"}
    await session.execute(text("SELECT 1"))
    return {"read_from": "primary"}


async def test_a_read_the_replica_fails_under_runs_again_on_the_primary(
    replica_app: Callable[..., FastAPI],
) -> None:
    app = replica_app()
    app.include_router(probe)
    async with serving(app) as client:
        reader = client("10.0.5.1")
        for _ in range(2):  # and again, once a poll has found the replica back
            await replica_state(reader, "ok")
            replica_reads = await read_sessions(reader, "replica")
            primary_reads = await read_sessions(reader, "primary")
            response = await reader.get("/probe/replica-dies-under-me")
            assert response.status_code == 200, response.text
            assert response.json() == {"read_from": "primary"}
            assert await read_sessions(reader, "replica") == replica_reads + 1
            assert await read_sessions(reader, "primary") == primary_reads + 1


async def test_without_a_replica_reads_are_not_routed_and_ready_says_disabled(
    app_factory: Callable[..., FastAPI],
) -> None:
    async with serving(app_factory()) as client:
        reader = client("10.0.6.1")
        ready = await reader.get("/ready")
        metrics = (await reader.get("/metrics")).text
    assert ready.json()["checks"]["replica"] == "disabled"
    assert "db_replica_lag_seconds" not in metrics
    assert "db_read_sessions_total{" not in metrics


async def test_statements_on_the_replica_are_traced_too(
    replica_app: Callable[..., FastAPI], primary: PrivatePostgres, replica: PrivatePostgres
) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    async with serving(replica_app(tracer_provider=provider)) as client:
        reader = client("10.0.7.1")
        alice = await settled_account(reader, primary, replica, "alice")
        spans.clear()
        await titles(reader, alice)
    statements_on = {
        (span.attributes or {}).get("net.peer.port")
        for span in spans.get_finished_spans()
        if "db.statement" in (span.attributes or {})
    }
    assert replica.port in statements_on
