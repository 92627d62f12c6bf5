"""The kernel's fast path (shared/fast_path.py): transaction boundaries, parameters and the
error rules, with real commits.

The probe table is scaffolding for the kernel's own tests (the kernel owns no table), made
with raw SQL and dropped afterwards, as in test_db.py.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import (
    SessionDep,
    UnitOfWork,
    is_database_unavailable,
    make_engine,
    make_session_factory,
)
from shared.errors import Conflict
from shared.fast_path import FastStatement, driver_connection
from shared.settings import Settings
from tests.conftest import http_client, request_once
from tests.shared import probes

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
PROBE_TABLE = f"fast_path_probe_{uuid.uuid4().hex[:8]}"
probe = sa.table(PROBE_TABLE, sa.column("id", sa.Integer), sa.column("note", sa.Text))

INSERT = FastStatement(
    sa.insert(probe).values(id=sa.bindparam("id_value"), note=sa.bindparam("note_value"))
)
COUNT = FastStatement(sa.select(sa.func.count()).select_from(probe))
NOTE = FastStatement(sa.select(probe.c.note).where(probe.c.id == sa.bindparam("id_value")))
# The time the transaction began: two statements in one transaction read the same.
TRANSACTION_START = FastStatement(sa.select(sa.func.now()))

router = APIRouter()


@router.post("/fast/{value}")
async def write(value: int, session: UnitOfWork) -> dict[str, int]:
    await INSERT.row(session, id_value=value, note_value="written")
    return {"id": value}


@router.post("/fast/{value}/then-fail")
async def write_then_fail(value: int, session: UnitOfWork) -> None:
    await INSERT.row(session, id_value=value, note_value="written")
    raise Conflict("Changed my mind")


@router.post("/fast-note")
async def write_note(note: str, session: UnitOfWork) -> dict[str, str]:
    await INSERT.row(session, id_value=1, note_value=note)
    return {"note": note}


@router.get("/fast-count")
async def count(session: SessionDep) -> dict[str, int]:
    row = await COUNT.row(session)
    assert row is not None
    return {"rows": row[0]}


@router.get("/fast-sleep")
async def sleep(session: SessionDep) -> None:
    await FastStatement(sa.select(sa.func.pg_sleep(2))).row(session)


@pytest.fixture
async def probe_table(engine: AsyncEngine) -> AsyncIterator[str]:
    async with probes.probe_table(engine, PROBE_TABLE, "id int PRIMARY KEY, note text") as name:
        yield name


async def committed_ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        result = await connection.execute(sa.select(probe.c.id).order_by(probe.c.id))
        return list(result.scalars())


def probe_app(build: Callable[..., FastAPI], **settings: object) -> FastAPI:
    return probes.probe_app(build, router, **settings)


async def test_a_read_alone_sends_no_begin_and_leaves_nothing_to_roll_back(
    engine: AsyncEngine,
) -> None:
    async with make_session_factory(engine)() as session:
        first = await TRANSACTION_START.row(session)
        second = await TRANSACTION_START.row(session)
        driver, _ = await driver_connection(session, in_transaction=False)
        assert first is not None and second is not None
        assert first[0] < second[0]  # each statement was a transaction of its own
        assert not driver.is_in_transaction()


async def test_a_read_in_an_open_transaction_sees_its_uncommitted_writes(
    engine: AsyncEngine, probe_table: str
) -> None:
    async with make_session_factory(engine)() as session:
        await session.execute(sa.insert(probe).values(id=1, note="by the ORM session"))
        counted = await COUNT.row(session)
        first = await TRANSACTION_START.row(session)
        second = await TRANSACTION_START.row(session)
        assert counted is not None and counted[0] == 1
        assert first == second  # both inside the session's transaction
    assert await committed_ids(engine) == []  # closed without commit: rolled back


async def test_a_write_begins_the_sessions_transaction_and_commits_with_it(
    engine: AsyncEngine, probe_table: str
) -> None:
    async with make_session_factory(engine)() as session:
        await INSERT.row(session, id_value=1, note_value="fast")
        driver, _ = await driver_connection(session, in_transaction=False)
        assert driver.is_in_transaction()
        assert await committed_ids(engine) == []  # not visible before the commit
        await session.commit()
    assert await committed_ids(engine) == [1]


async def test_a_fast_write_and_an_orm_write_are_one_transaction(
    engine: AsyncEngine, probe_table: str
) -> None:
    async with make_session_factory(engine)() as session:
        await INSERT.row(session, id_value=1, note_value="fast")
        await session.execute(sa.insert(probe).values(id=2, note="orm"))
        await INSERT.row(session, id_value=3, note_value="fast again")
        await session.rollback()
    assert await committed_ids(engine) == []


async def test_after_a_commit_statements_run_in_the_sessions_next_transaction(
    engine: AsyncEngine, probe_table: str
) -> None:
    async with make_session_factory(engine)() as session:
        await INSERT.row(session, id_value=1, note_value="committed")
        await session.commit()  # the connection went back to the pool
        await INSERT.row(session, id_value=2, note_value="rolled back")
        driver, _ = await driver_connection(session, in_transaction=False)
        assert driver.is_in_transaction()
        await session.rollback()
    assert await committed_ids(engine) == [1]


async def test_parameters_take_defaults_convert_types_and_name_what_is_missing(
    engine: AsyncEngine,
) -> None:
    statement = FastStatement(
        sa.select(
            sa.bindparam("document", type_=JSONB)["a"].astext,
            sa.bindparam("fallback", value=7, type_=sa.Integer),
        )
    )
    async with make_session_factory(engine)() as session:
        # The dict goes as JSON text, as SQLAlchemy sends it; `fallback` keeps its value.
        assert tuple(await statement.rows(session, document={"a": "b"})) == (("b", 7),)
        assert tuple(await statement.rows(session, document={}, fallback=8)) == ((None, 8),)
        with pytest.raises(TypeError, match="document"):
            await statement.rows(session)


async def test_rows_come_back_as_the_read_model(engine: AsyncEngine) -> None:
    from pydantic import BaseModel

    class Pair(BaseModel):
        left: int
        right: str

    statement = FastStatement(
        sa.select(sa.literal(1).label("left"), sa.literal("one").label("right")), into=Pair
    )
    async with make_session_factory(engine)() as session:
        assert await statement.rows(session) == [Pair(left=1, right="one")]


async def test_the_unit_of_work_commits_a_fast_write_or_rolls_it_back(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine, probe_table: str
) -> None:
    app = probe_app(app_factory)
    async with app.router.lifespan_context(app), http_client(app) as client:
        assert (await client.post("/api/v1/fast/1")).status_code == 200
        assert (await client.post("/api/v1/fast/2/then-fail")).status_code == 409
        duplicate = await client.post("/api/v1/fast/1")
    assert await committed_ids(engine) == [1]
    assert duplicate.status_code == 500
    assert duplicate.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "duplicate" not in duplicate.text  # no SQL or driver message leaks


async def test_text_the_database_cannot_store_is_a_422(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine, probe_table: str
) -> None:
    app = probe_app(app_factory)
    response = await request_once(app, "POST", "/api/v1/fast-note", params={"note": "a\x00b"})
    assert response.status_code == 422
    assert "NUL" in response.json()["error"]["fields"][0]["message"]
    assert await committed_ids(engine) == []


async def test_a_statement_over_the_statement_timeout_is_503(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = probe_app(app_factory, db_statement_timeout_ms=100)
    response = await request_once(app, "GET", "/api/v1/fast-sleep")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


async def test_a_table_lock_is_503_after_the_lock_timeout(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine, probe_table: str
) -> None:
    app = probe_app(app_factory, db_pool_size=1, db_max_overflow=0, db_lock_timeout_ms=300)
    answers = await probes.answers_behind_a_table_lock(
        app, engine, probe_table, "/api/v1/fast-count"
    )
    assert [response.status_code for response, _ in answers] == [503] * 3
    assert max(waited for _, waited in answers) < 3  # lock timeouts, not the statement's


async def test_a_connection_the_server_closed_is_503_and_not_handed_out_again(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine, probe_table: str
) -> None:
    app = probe_app(app_factory, db_pool_size=1, db_max_overflow=0)
    async with app.router.lifespan_context(app), http_client(app) as client:
        assert (await client.get("/api/v1/fast-count")).status_code == 200
        async with engine.connect() as admin:
            await admin.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'modulith' AND pid <> pg_backend_pid()"
                    " AND datname = current_database()"
                )
            )
        answers = [(await client.get("/api/v1/fast-count")).status_code for _ in range(2)]
    # The pool replaces the connection at checkout once asyncpg has seen it close.
    assert answers in ([200, 200], [503, 200])


async def test_a_write_on_a_connection_closed_after_checkout_is_a_lost_connection(
    settings: Settings, engine: AsyncEngine, probe_table: str
) -> None:
    # The server ends the connection after the session checked it out and before the write
    # begins its transaction (PostgreSQL restarting under load): the BEGIN fails with
    # asyncpg's "connection is closed", which must read as a lost connection (503), not a bug.
    app_engine = make_engine(settings)  # the app's: it replaces closed connections at checkout
    async with make_session_factory(app_engine)() as session:
        driver, _ = await driver_connection(session, in_transaction=False)
        async with engine.connect() as admin:
            await admin.execute(sa.select(sa.func.pg_terminate_backend(driver.get_server_pid())))
        for _ in range(100):  # asyncpg sees the socket close at its next read
            if driver.is_closed():
                break
            await asyncio.sleep(0.02)
        assert driver.is_closed()
        with pytest.raises(asyncpg.ConnectionDoesNotExistError) as lost:
            await INSERT.row(session, id_value=1, note_value="never stored")
    assert is_database_unavailable(lost.value)
    async with make_session_factory(app_engine)() as session:  # the pool recovers
        await INSERT.row(session, id_value=2, note_value="stored")
        await session.commit()
    await app_engine.dispose()
    assert await committed_ids(engine) == [2]
