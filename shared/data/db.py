"""The database kernel: one async engine per app, request sessions and the unit of work.

Reads use `SessionDep`; writes use `UnitOfWork`, which commits before the response is sent
(a function-scoped `yield` dependency) and rolls back when anything raises, but for an
`AppError` that commits (a refusal whose record must be kept).
"""

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from ..errors import AppError
from ..settings import Settings

# Named constraints keep autogenerate stable and migrations reversible. Set here, at import:
# every models.py imports this module (for utcnow) before it defines a table.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLSTATE classes and codes that mean "the database cannot serve us now", not "bad query".
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P")  # connection, resources, shutdown
# Statement timeout, lock timeout, database does not exist.
_UNAVAILABLE_SQLSTATES = {"57014", "55P03", "3D000"}
# Text PostgreSQL cannot store (a NUL character, say): the client's input, not our fault.
_UNSTORABLE_TEXT_SQLSTATES = {"22021", "22P05"}


def utcnow() -> datetime:
    """The time rows are stamped with: timezone-aware UTC (columns are timestamptz)."""
    return datetime.now(UTC)


def asyncpg_dsn(url: URL) -> str:
    """`url` as asyncpg itself takes it: no SQLAlchemy driver suffix, the password included."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


PLAIN_CONNECT_TIMEOUT_SECONDS = 10.0


async def connect_asyncpg(url: URL) -> asyncpg.Connection:
    """One plain asyncpg connection to `url` (no pool, no SQLAlchemy), for commands and tools:
    short-lived, so without a statement cache, which also makes it safe behind PgBouncer."""
    return await asyncpg.connect(
        asyncpg_dsn(url), timeout=PLAIN_CONNECT_TIMEOUT_SECONDS, statement_cache_size=0
    )


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


# For connections that may go through PgBouncer in transaction pooling mode, where clients
# take turns on the server's connections: no statement kept prepared across transactions (the
# next transaction may run on another server connection), and names no other client can
# reuse (a server connection keeps what a previous client prepared on it).
PGBOUNCER_SAFE_CONNECT_ARGS: dict[str, Any] = {
    "statement_cache_size": 0,  # asyncpg's own cache
    "prepared_statement_cache_size": 0,  # SQLAlchemy's asyncpg adapter's
    "prepared_statement_name_func": _unique_statement_name,
}


def timeout_settings(settings: Settings) -> dict[str, str]:
    """The server-side limits every connection of the app runs under."""
    return {
        "statement_timeout": str(settings.db_statement_timeout_ms),
        # A statement queued behind a lock (a migration's, say) gives its connection back
        # soon: otherwise a table lock holds the whole pool for the statement timeout, and
        # requests waiting for the pool get their 503 after both.
        "lock_timeout": str(settings.db_lock_timeout_ms),
    }


def make_engine(settings: Settings, url: URL | None = None) -> AsyncEngine:
    """The engine of DATABASE_URL, or of `url` (the read replica's) with the same pool and
    limits."""
    timeout_ms = settings.db_statement_timeout_ms
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout,
        # The server cancels slow statements; the client gives up a little later in case the
        # server itself is unreachable mid-query.
        "command_timeout": timeout_ms / 1000 + 5,
        "server_settings": {"application_name": "modulith", **timeout_settings(settings)},
    }
    if settings.db_pgbouncer:
        # PgBouncer refuses startup parameters it does not know: the limits are set at the
        # start of each transaction instead (one more statement, and round trip, in each).
        connect_args |= PGBOUNCER_SAFE_CONNECT_ARGS | {
            "server_settings": {"application_name": "modulith"}
        }
    engine = create_async_engine(
        url or settings.database,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        connect_args=connect_args,
        # A database error's message never carries the statement's values (a password hash,
        # an e-mail) into logs and traces.
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    if settings.db_pgbouncer:
        event.listen(engine.sync_engine, "begin", _transaction_limits(settings))
    return engine


def _transaction_limits(settings: Settings) -> Callable[[Connection], None]:
    """Behind PgBouncer: the timeouts for the transaction beginning, as `SET LOCAL` would set
    them (set_config(..., true): they end with the transaction, never leak to the next client
    of the server connection)."""
    statement = (
        "SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)"
    )
    limits = timeout_settings(settings)
    values = (limits["statement_timeout"], limits["lock_timeout"])

    def set_limits(connection: Connection) -> None:
        connection.exec_driver_sql(statement, values)

    return set_limits


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Replace a pooled connection the server closed while it sat idle (PostgreSQL restarted
    or crashed), so no request gets it. The pool reconnects in its place, within the same
    checkout.

    asyncpg notices the server closing the socket as soon as the event loop reads it, so
    asking the connection costs no round trip; SQLAlchemy's `pool_pre_ping` would cost three
    (BEGIN, a statement, ROLLBACK) on every checkout.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise sa_exc.DisconnectionError("closed by the server while in the pool")


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit: responses are serialized after the session closes.
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def is_database_unavailable(error: BaseException) -> bool:
    """True when `error` means the database is unreachable or overloaded (answer 503)."""
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection within DB_POOL_TIMEOUT
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        return _is_unavailable_sqlstate(getattr(error.orig, "sqlstate", None))
    # asyncpg raises its own errors, untranslated, while SQLAlchemy's pool opens a connection
    # (the server starting up or shutting down, 57P03; too many clients, 53300).
    if isinstance(error, asyncpg.PostgresError):
        return _is_unavailable_sqlstate(error.sqlstate)
    # Raised as-is by asyncpg while connecting: refused, reset, DNS failure, connect timeout.
    # Other OSErrors (a missing file, say) are bugs, not an unavailable database.
    return isinstance(error, ConnectionError | TimeoutError | socket.gaierror)


def _is_unavailable_sqlstate(sqlstate: str | None) -> bool:
    sqlstate = sqlstate or ""
    return sqlstate in _UNAVAILABLE_SQLSTATES or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)


def is_unstorable_text(error: BaseException) -> bool:
    """True when the database refused text the client sent (answer 422, not 500)."""
    return (
        isinstance(error, sa_exc.DBAPIError)
        and getattr(error.orig, "sqlstate", None) in _UNSTORABLE_TEXT_SQLSTATES
    )


class ConnectionTurns:
    """Requests take turns for the pool's connections, first come, first served.

    SQLAlchemy's async pool waits on an asyncio.Queue, which lets a newcomer take a
    connection just returned while the request woken for it has not run yet; the woken one
    queues again at the back. Under saturation a request could wait past DB_POOL_TIMEOUT
    (a 503) while others were served in a fraction of it: `make bench`, one worker, 64
    connections, 1 of ~5,000 list requests. asyncio's Semaphore hands a released turn to
    the longest waiter, so a request waits only for those that came before it. There are
    as many turns as the pool has connections; waiting for one is bounded by
    DB_POOL_TIMEOUT, as waiting for the pool was, and ends in the same 503.
    """

    def __init__(self, settings: Settings) -> None:
        self._turns = asyncio.Semaphore(settings.db_pool_size + settings.db_max_overflow)
        self._timeout = settings.db_pool_timeout

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._turns.locked():  # someone is waiting already: wait in line
            try:
                await asyncio.wait_for(self._turns.acquire(), self._timeout)
            except TimeoutError:
                raise sa_exc.TimeoutError(
                    f"no connection turn within DB_POOL_TIMEOUT ({self._timeout:g} s)"
                ) from None
        else:
            await self._turns.acquire()  # free: taken at once
        try:
            yield
        finally:
            self._turns.release()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # On the primary, or on the read replica for a request that changes nothing
    # (shared/data/read_routing.py).
    async with request.app.state.container.read_routing().session_for(request) as session:
        yield session


# Function scope: the session closes (and its connection returns to the pool) as soon as the
# handler returns, not after the response has been sent.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def unit_of_work(session: SessionDep) -> AsyncIterator[AsyncSession]:
    try:
        yield session
    except AppError as refusal:
        # An error that commits (a failed login's count and audit entry) keeps what the
        # request wrote; any other rolls it back, as the session closes.
        if refusal.commits:
            await session.commit()
        raise
    # Function scope: this runs before the response is sent, so a failed commit fails the
    # request.
    await session.commit()


UnitOfWork = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
