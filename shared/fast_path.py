"""The kernel's fast path: a hot statement run straight on the request's asyncpg connection.

Tables are declared with SQLModel and queries written as SQLAlchemy expressions next to their
use case, as everywhere else. A `FastStatement` compiles such an expression once, to
PostgreSQL's own SQL, and runs it on the connection of the request's session with asyncpg:
no statement compiled per call, no ORM instances loaded, no identity map. Rows come back as
asyncpg records or as the pydantic read model given as `into`.

    _ITEM = FastStatement(select(Item).where(col(Item.id) == bindparam("item_id")), into=ItemRead)
    item = await _ITEM.row(session, item_id=item_id)

Transactions stay the session's:
- a write (INSERT, UPDATE, DELETE, or `in_transaction=True`) runs in the session's
  transaction, beginning it if nothing has, so it commits or rolls back with the unit of
  work, with every job the request enqueues;
- a read runs in the session's transaction if one is open (it sees the request's own
  writes), else on its own: one statement is one consistent snapshot, and a request that
  only reads sends no BEGIN and no ROLLBACK.
Behind PgBouncer every session opens its transaction at once (`shared.db`), so reads run in
it too, as transaction pooling needs.

Errors are asyncpg's own; `shared.db`'s rules read them like SQLAlchemy's (503 when the
database cannot serve, 422 for text it cannot store, 500 for the rest).

What it does not do: expanding IN lists (bind an array and use `= ANY(:ids)`), ORM events
or defaults (pass every value), and decoding JSON columns (they come back as text).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast, overload

import asyncpg
from pydantic import BaseModel
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlmodel.ext.asyncio.session import AsyncSession

Row = TypeVar("Row")
Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the bind parameters in $n order
    defaults: dict[str, Any]
    # The type conversions SQLAlchemy would apply on the way in (JSON to text, say); most
    # types go to asyncpg as they are.
    convert: tuple[tuple[int, Callable[[Any], Any]], ...]

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect) -> "_Compiled":
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        names = tuple(compiled.positiontup or ())
        convert = []
        for position, name in enumerate(names):
            bind_type = compiled.binds[name].type
            processor = bind_type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                convert.append((position, processor))
        return cls(
            sql=compiled.string,
            names=names,
            defaults={n: bind.value for n, bind in compiled.binds.items() if not bind.required},
            convert=tuple(convert),
        )

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        try:
            arguments = [
                params[name] if name in params else self.defaults[name] for name in self.names
            ]
        except KeyError as missing:
            raise TypeError(f"statement parameter {missing} not given") from None
        for position, convert in self.convert:
            if arguments[position] is not None:
                arguments[position] = convert(arguments[position])
        return arguments


class FastStatement(Generic[Row]):
    """One SQLAlchemy Core statement, compiled once, run on the session's asyncpg connection.

    Parameters are its `bindparam`s, by name; a bindparam given a value when the statement
    was built is its default. Extra parameters are ignored, so a use case can pass one set to
    every shape of its statement.
    """

    @overload
    def __init__(
        self: "FastStatement[asyncpg.Record]",
        statement: ClauseElement,
        *,
        in_transaction: bool | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: "FastStatement[Model]",
        statement: ClauseElement,
        *,
        into: type[Model],
        in_transaction: bool | None = None,
    ) -> None: ...

    def __init__(
        self,
        statement: ClauseElement,
        *,
        into: type[BaseModel] | None = None,
        in_transaction: bool | None = None,
    ) -> None:
        self.statement = statement
        self._into = into
        # A write, or a read that must see (or lock within) the request's transaction.
        self.in_transaction = statement.is_dml if in_transaction is None else in_transaction
        # Compiled at the first run, with the engine's own dialect: how SQL is written can
        # depend on the server (PostgreSQL's standard_conforming_strings decides how a
        # backslash in a literal is escaped, for one).
        self._compiled: _Compiled | None = None

    def bound(self, dialect: Dialect, **params: Any) -> tuple[str, list[Any]]:
        """The SQL and the positional arguments asyncpg gets for `params`."""
        if self._compiled is None:
            self._compiled = _Compiled.of(self.statement, dialect)
        return self._compiled.sql, self._compiled.arguments(params)

    async def rows(self, session: AsyncSession, **params: Any) -> list[Row]:
        records = await self._run(session, params, asyncpg.Connection.fetch)
        if self._into is None:
            return records  # type: ignore[no-any-return]
        into = self._into
        return [into.model_validate(dict(record)) for record in records]  # type: ignore[misc]

    async def row(self, session: AsyncSession, **params: Any) -> Row | None:
        """The first row, or None when there is none."""
        record = await self._run(session, params, asyncpg.Connection.fetchrow)
        if record is None or self._into is None:
            return record  # type: ignore[no-any-return]
        return self._into.model_validate(dict(record))  # type: ignore[return-value]

    async def _run(
        self,
        session: AsyncSession,
        params: dict[str, Any],
        fetch: Callable[..., Awaitable[Any]],
    ) -> Any:
        connection, dialect = await driver_connection(session, in_transaction=self.in_transaction)
        sql, arguments = self.bound(dialect, **params)
        try:
            return await fetch(connection, sql, *arguments)
        except asyncpg.PostgresError:
            raise
        except Exception as error:
            # A connection the server closed just before the statement (terminated, or
            # restarting) fails with a protocol error rather than a PostgreSQL one. It is
            # what SQLAlchemy calls an invalidated connection: 503, like every lost one (the
            # pool replaces it at the next checkout).
            if connection.is_closed():
                raise _connection_lost() from error
            raise


_FOUND_CONNECTION = "fast_path.connection"  # a key of session.info


async def driver_connection(
    session: AsyncSession, *, in_transaction: bool
) -> tuple[asyncpg.Connection, Dialect]:
    """The asyncpg connection under `session`, and its dialect. It is checked out from the
    engine's pool (so the pool's size, checks and metrics hold), with the session's
    transaction begun on it first when `in_transaction`.

    SQLAlchemy's asyncpg adapter begins its transaction lazily, at the first statement it
    runs itself; asking it to begin now is the one place the kernel reaches into the adapter
    (`tests/shared/test_fast_path.py` pins that behaviour).
    """
    # The session keeps one connection for the life of its transaction: found once per
    # transaction (two greenlet hops through SQLAlchemy), then reused by later statements.
    transaction = session.sync_session.get_transaction()
    found = session.info.get(_FOUND_CONNECTION)
    if found is not None and found[0] is transaction:
        _, adapter, dialect = found
    else:
        connection = await session.connection()
        adapter = (await connection.get_raw_connection()).dbapi_connection
        dialect = connection.dialect
        session.info[_FOUND_CONNECTION] = (
            session.sync_session.get_transaction(),
            adapter,
            dialect,
        )
    if in_transaction and not adapter._started:
        try:
            await adapter._start_transaction()
        except Exception as error:
            # The adapter wraps asyncpg's error in its DBAPI shim, which is neither SQLAlchemy's
            # nor asyncpg's: raise asyncpg's, as every other fast-path statement does.
            if isinstance(error.__cause__, asyncpg.PostgresError):
                raise error.__cause__ from None
            # The server closed the connection after the checkout found it open (PostgreSQL
            # restarting): asyncpg says "connection is closed", an InterfaceError.
            if adapter.driver_connection.is_closed():
                raise _connection_lost() from error
            raise
    return adapter.driver_connection, dialect


def _connection_lost() -> asyncpg.ConnectionDoesNotExistError:
    """A connection lost before its statement ran, as asyncpg reports one lost during it: the
    08003 that `shared.db` reads as unavailable (503)."""
    return asyncpg.ConnectionDoesNotExistError("the connection was closed before the statement ran")
