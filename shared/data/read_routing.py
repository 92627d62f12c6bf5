"""Which database serves a request's session: the primary, or the read replica.

A request that changes nothing (GET, HEAD, OPTIONS) reads from the replica while the replica
takes reads (`ReadReplica`) and its client has not written in the last
READ_YOUR_WRITES_SECONDS (`RecentWriters`). Every other request writes, on the primary, and
marks its client as a recent writer; jobs, schedules and migrations use the primary too.
A read the replica fails under runs again on the primary (`shared/api/route.py`).
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request

from .db import ConnectionTurns, is_database_unavailable
from .recent_writes import RecentWriters
from .replica import ReadReplica, is_replica_session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# request.state: "replica" once the request's session reads from it; "primary only" once it
# failed there.
_READ_FROM = "read_from"
_PRIMARY_ONLY = "primary only"


class ReadRouting:
    def __init__(
        self,
        primary_sessions: Callable[[], async_sessionmaker[AsyncSession]],
        primary_turns: ConnectionTurns,
        replica: ReadReplica,
        recent_writers: RecentWriters | None,
        registry: CollectorRegistry,
    ) -> None:
        # A provider, called per session: tests bind the app's sessions to their transaction.
        self._primary_sessions = primary_sessions
        self._primary_turns = primary_turns
        self.replica = replica
        self._recent_writers = recent_writers
        self._reads = Counter(
            "db_read_sessions",
            "Sessions of requests that change nothing, by the database that served them",
            ["database"],
            registry=registry,
        )

    @asynccontextmanager
    async def session_for(self, request: Request) -> AsyncIterator[AsyncSession]:
        if request.method not in SAFE_METHODS:
            try:
                async with self.primary_session() as session:
                    yield session
            finally:  # even when it failed: what it wrote before is committed, or not
                if self._recent_writers is not None:
                    await self._recent_writers.mark(request)
            return
        async with AsyncExitStack() as stack:
            reader = await self._replica_session(request, stack)
            if reader is None:
                reader = await stack.enter_async_context(self.primary_session())
            if self.replica.engine is not None:
                self._reads.labels("replica" if is_replica_session(reader) else "primary").inc()
            yield reader

    @asynccontextmanager
    async def primary_session(self) -> AsyncIterator[AsyncSession]:
        async with self._primary_turns.turn(), self._primary_sessions()() as session:
            yield session

    def falls_back(self, request: Request, error: BaseException) -> bool:
        """True when `error` is the replica failing under `request`'s read: the replica gets
        no more reads until a poll finds it back, and the request, run again, reads from the
        primary."""
        if getattr(request.state, _READ_FROM, None) != "replica":
            return False
        if not is_database_unavailable(error):
            return False
        self.replica.failed(error)
        setattr(request.state, _READ_FROM, _PRIMARY_ONLY)
        return True

    async def _replica_session(
        self, request: Request, stack: AsyncExitStack
    ) -> AsyncSession | None:
        if not self.replica.takes_reads or getattr(request.state, _READ_FROM, None):
            return None
        if self._recent_writers and await self._recent_writers.wrote_recently(request):
            return None
        replica = AsyncExitStack()
        try:
            await replica.enter_async_context(self.replica.turns.turn())
            session = await replica.enter_async_context(self.replica.sessions())
            # Connected now, not at the first read: a replica gone since the last poll is
            # left for the primary before the handler runs.
            await session.connection()
        except Exception as error:
            await replica.aclose()
            if not is_database_unavailable(error):
                raise
            # No turn at its pool within DB_POOL_TIMEOUT: busy, not gone; the others keep
            # reading there.
            if not isinstance(error, sa_exc.TimeoutError):
                self.replica.failed(error)
            return None
        await stack.enter_async_context(replica)
        setattr(request.state, _READ_FROM, "replica")
        return session
