"""The streaming replica of DATABASE_READ_URL, and whether reads may go to it now.

Each API process polls the replica every second: reads go there only while it answered its
last poll and is at most REPLICA_MAX_LAG_SECONDS behind the primary. A request that sees it
fail stops the reads at once, until a poll finds it back.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Literal

import structlog
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from ..settings import Settings
from .db import ConnectionTurns, make_engine

ReplicaState = Literal["ok", "lagging", "error", "disabled"]

LAG_POLL_SECONDS = 1.0
LAG_POLL_TIMEOUT_SECONDS = 2.0
# Set in the `info` of every replica session: `is_replica_session` reads it.
REPLICA_SESSION = "replica"

# How far behind the primary the replica is, in seconds. Zero when it has replayed all it
# received and is still streaming: an idle primary sends nothing, so the last transaction
# replayed may be old without the replica being behind. (A restarted replica counts as
# received only from the start of the WAL segment it resumes at, which may come before what
# it replayed: hence `>=`.) Otherwise the age of that transaction (NULL, unknown, before it
# replayed any). A server that is not in recovery (a primary named by DATABASE_READ_URL) is
# never behind. The replica's clock and the primary's are compared: keep them in sync (NTP),
# as PostgreSQL's own monitoring assumes.
LAG_QUERY = text(
    """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()
            AND EXISTS (SELECT FROM pg_stat_wal_receiver) THEN 0
        ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())
    END
    """
)

logger = structlog.get_logger(__name__)


def is_replica_session(session: AsyncSession) -> bool:
    """True for a session reading from the replica: it may not write, and may be behind."""
    return bool(session.info.get(REPLICA_SESSION))


class ReadReplica:
    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        url = settings.database_read
        self.engine: AsyncEngine | None = make_engine(settings, url) if url else None
        self.sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, info={REPLICA_SESSION: True}
        )
        # Its pool is its own: requests wait in line for it as for the primary's.
        self.turns = ConnectionTurns(settings)
        self.max_lag_seconds = settings.replica_max_lag_seconds
        # Until the first poll has answered, nothing is known: no reads.
        self.state: ReplicaState = "disabled" if self.engine is None else "error"
        self._lag = (
            Gauge(
                "db_replica_lag_seconds",
                "How far the read replica is behind the primary (at the last poll)",
                registry=registry,
                multiprocess_mode="livemax",
            )
            if self.engine is not None
            else None
        )

    @property
    def takes_reads(self) -> bool:
        return self.state == "ok"

    async def poll(self) -> None:
        """Ask the replica how far behind it is; no answer in time is an error."""
        if self.engine is None:  # disabled, and stays so
            return
        try:
            async with asyncio.timeout(LAG_POLL_TIMEOUT_SECONDS), self.engine.connect() as db:
                found = (await db.execute(LAG_QUERY)).scalar()
        except Exception as error:  # unreachable, refusing, starting, too slow: all the same
            self._become("error", error=repr(error))
            return
        lag = None if found is None else float(found)  # numeric: a Decimal
        if lag is not None and self._lag is not None:
            self._lag.set(lag)
        within_bound = lag is not None and lag <= self.max_lag_seconds
        self._become("ok" if within_bound else "lagging", lag_seconds=lag)

    def failed(self, error: BaseException) -> None:
        """A request's read failed on the replica: no more reads go there until a poll has
        found it back."""
        self._become("error", error=repr(error))

    def _become(self, state: ReplicaState, **facts: object) -> None:
        if state != self.state:
            log = logger.info if state == "ok" else logger.warning
            log("replica_state_changed", state=state, was=self.state, **facts)
        self.state = state

    @asynccontextmanager
    async def watched(self) -> AsyncIterator[None]:
        """While the app serves: polled first, then every LAG_POLL_SECONDS."""
        if self.engine is None:
            yield
            return
        await self.poll()
        watcher = asyncio.create_task(self._poll_until_cancelled(), name="replica-lag")
        try:
            yield
        finally:
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher
            await self.engine.dispose()

    async def _poll_until_cancelled(self) -> None:
        while True:
            await asyncio.sleep(LAG_POLL_SECONDS)
            await self.poll()
