"""The database kernel with real commits: the unit of work, and 503 when the database fails.

These tests use apps with their real session factory. The probe table is scaffolding for the
kernel's own tests (the kernel owns no table), made with raw SQL and dropped afterwards.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, Body, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.local_servers.ports import closed_port
from shared.data.db import SessionDep, UnitOfWork, is_database_unavailable
from shared.errors import Conflict
from tests.conftest import capture_logs, http_client, request_once
from tests.network import silent_server
from tests.shared import probes

# Raw SQL needs SQLAlchemy's execute(), which SQLModel's session flags for ORM users.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:tests.shared.test_db")
router = APIRouter(tags=["probe"])
PROBE_TABLE = f"uow_probe_{uuid.uuid4().hex[:8]}"


@router.post("/probe/{value}")
async def write_probe(value: int, session: UnitOfWork) -> dict[str, int]:
    await session.execute(text(f"INSERT INTO {PROBE_TABLE} (id) VALUES (:v)"), {"v": value})
    return {"id": value}


@router.post("/probe/{value}/then-fail")
async def write_then_fail(value: int, session: UnitOfWork) -> None:
    await session.execute(text(f"INSERT INTO {PROBE_TABLE} (id) VALUES (:v)"), {"v": value})
    await session.flush()
    raise Conflict("Changed my mind")


class KeptRefusal(Conflict):
    code = "KEPT_REFUSAL"
    commits = True


@router.post("/probe/{value}/then-refuse")
async def write_then_refuse(value: int, session: UnitOfWork) -> None:
    await session.execute(text(f"INSERT INTO {PROBE_TABLE} (id) VALUES (:v)"), {"v": value})
    raise KeptRefusal("Refused, and the attempt is on record", headers={"X-Probe": "1"}, seen=1)


@router.post("/probe/{value}/twice")
async def write_twice(value: int, session: UnitOfWork) -> dict[str, int]:
    # The primary key is deferred: the duplicate is only caught by COMMIT.
    for _ in range(2):
        await session.execute(text(f"INSERT INTO {PROBE_TABLE} (id) VALUES (:v)"), {"v": value})
    return {"id": value}


@router.post("/text-echo")
async def echo_through_the_database(text_in: str, session: SessionDep) -> dict[str, str]:
    result = await session.execute(text("SELECT CAST(:t AS text)"), {"t": text_in})
    return {"echo": result.scalar_one()}


@router.post("/failing-probe")
async def fail_with_a_value(value: Annotated[str, Body(embed=True)], session: SessionDep) -> None:
    await session.execute(text("SELECT CAST(:v AS text), 1 / 0"), {"v": value})


@router.get("/probe/sleep")
async def sleep_in_database(session: SessionDep) -> dict[str, bool]:
    await session.execute(text("SELECT pg_sleep(2)"))
    return {"slept": True}


@pytest.fixture
async def probe_table(engine: AsyncEngine) -> AsyncIterator[str]:
    columns = "id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED"
    async with probes.probe_table(engine, PROBE_TABLE, columns) as name:
        yield name


async def probe_rows(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        result = await connection.execute(text(f"SELECT id FROM {PROBE_TABLE} ORDER BY id"))
        return list(result.scalars())


def probe_app(build: Callable[..., FastAPI], **settings: object) -> FastAPI:
    return probes.probe_app(build, router, **settings)


async def test_unit_of_work_commits_a_successful_write(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine, probe_table: str
) -> None:
    app = probe_app(app_factory)
    response = await request_once(app, "POST", "/api/v1/probe/1")
    assert response.status_code == 200
    assert await probe_rows(engine) == [1]


async def test_unit_of_work_leaves_no_partial_write_when_the_handler_raises(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine, probe_table: str
) -> None:
    app = probe_app(app_factory)
    response = await request_once(app, "POST", "/api/v1/probe/2/then-fail")
    assert response.status_code == 409
    assert await probe_rows(engine) == []


async def test_an_error_that_commits_keeps_the_write_and_answers_its_envelope(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine, probe_table: str
) -> None:
    app = probe_app(app_factory)
    response = await request_once(app, "POST", "/api/v1/probe/4/then-refuse")
    assert response.status_code == 409
    assert response.headers["x-probe"] == "1"
    error = response.json()["error"]
    assert (error["code"], error["detail"], error["seen"]) == (
        "KEPT_REFUSAL",
        "Refused, and the attempt is on record",
        1,
    )
    assert await probe_rows(engine) == [4]


async def test_a_failed_commit_fails_the_response_instead_of_answering_2xx(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine, probe_table: str
) -> None:
    app = probe_app(app_factory)
    response = await request_once(app, "POST", "/api/v1/probe/3/twice")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "duplicate" not in response.text  # no SQL or driver message leaks
    assert await probe_rows(engine) == []


async def test_a_database_error_logs_no_bound_parameter(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = probe_app(app_factory)
    secret = f"hash-{uuid.uuid4().hex}"
    with capture_logs() as logs:
        response = await request_once(app, "POST", "/api/v1/failing-probe", json={"value": secret})
    assert response.status_code == 500
    logged = json.dumps(logs.lines)
    assert "division by zero" in logged  # the error was logged...
    assert secret not in logged  # ...without the value it was run with


async def test_text_the_database_cannot_store_is_a_422_not_a_500(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = probe_app(app_factory)
    response = await request_once(app, "POST", "/api/v1/text-echo", params={"text_in": "a\x00b"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "NUL" in error["fields"][0]["message"]


async def test_a_refused_database_connection_is_503_at_once(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = probe_app(
        app_factory, database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/x"
    )
    response = await request_once(app, "POST", "/api/v1/probe/4")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert "127.0.0.1" not in error["detail"]


async def test_a_wedged_database_is_503_after_the_connect_timeout_not_minutes(
    app_factory: Callable[..., FastAPI],
) -> None:
    async with silent_server() as port:
        app = probe_app(
            app_factory,
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x",
            db_connect_timeout=0.5,
        )
        started = time.monotonic()
        response = await request_once(app, "POST", "/api/v1/probe/5")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < 5  # bounded by DB_CONNECT_TIMEOUT, not asyncpg's 60 s default


async def test_a_statement_over_the_statement_timeout_is_cancelled_with_503(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = probe_app(app_factory, db_statement_timeout_ms=100)
    response = await request_once(app, "GET", "/api/v1/probe/sleep")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


async def test_an_exhausted_pool_is_503_after_the_pool_timeout(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = probe_app(app_factory, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.3)
    async with app.router.lifespan_context(app), http_client(app) as client:
        assert (await client.get("/ready")).status_code == 200  # the one connection is open

        async def while_the_pool_is_held() -> httpx.Response:
            await asyncio.sleep(0.5)  # the first request holds the only connection for 2 s
            return await client.get("/api/v1/probe/sleep")

        holder, starved = await asyncio.gather(
            client.get("/api/v1/probe/sleep"), while_the_pool_is_held()
        )
    assert holder.status_code == 200
    assert starved.status_code == 503
    assert starved.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


@router.get("/probe/rows")
async def read_probe_rows(session: SessionDep) -> dict[str, int]:
    result = await session.execute(text(f"SELECT count(*) FROM {PROBE_TABLE}"))
    return {"rows": result.scalar_one()}


async def test_a_table_lock_cannot_hold_the_pool_past_the_lock_timeout(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine, probe_table: str
) -> None:
    # One pooled connection, three requests queued behind a migration's lock: each gives up
    # after the lock timeout (0.3 s) in turn, not after the statement timeout (15 s).
    app = probe_app(app_factory, db_pool_size=1, db_max_overflow=0, db_lock_timeout_ms=300)
    answers = await probes.answers_behind_a_table_lock(
        app, engine, probe_table, "/api/v1/probe/rows"
    )
    assert [response.status_code for response, _ in answers] == [503] * 3
    assert {response.json()["error"]["code"] for response, _ in answers} == {"SERVICE_UNAVAILABLE"}
    assert max(waited for _, waited in answers) < 3  # three lock timeouts, one after another


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.TooManyConnectionsError("sorry, too many clients already"), True),
        (asyncpg.ConnectionDoesNotExistError("connection was closed"), True),
        (asyncpg.UniqueViolationError("duplicate key value"), False),
    ],
)
def test_asyncpgs_own_errors_follow_the_same_sqlstate_rule(
    error: asyncpg.PostgresError, unavailable: bool
) -> None:
    # asyncpg raises these untranslated while the pool connects (tests/e2e/test_database_faults
    # has them from a real server).
    assert is_database_unavailable(error) is unavailable
