"""Housekeeping on a timetable (purging expired rows, say), declared by the module it belongs to.

    Schedule("auth.purge_ended", "7 * * * *", purge_what_ended)

PgQueuer's scheduler runs each schedule at the times its cron expression names (UTC): the
schedule is a row of `pgqueuer_schedules`, and of all the workers of the deployment, the one
that takes that row runs it. A schedule's function gets a session in a transaction of its own,
committed when it returns, and the root container; what it returns is logged. A failure is
logged and the schedule runs again at its next time, so the function must be idempotent.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from pgqueuer import PgQueuer
from pgqueuer.models import Schedule as ScheduleRun
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from .messages import DOTTED_NAME

logger = structlog.get_logger("app.jobs")

# (session, the root container) -> what it did, for the log.
Housekeeping = Callable[[AsyncSession, Any], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str  # dotted, after its module: "auth.purge_ended"
    cron: str  # when, in UTC: "7 * * * *" is seven minutes past every hour
    run: Housekeeping

    def __post_init__(self) -> None:
        # The cron expression is PgQueuer's to check, when a worker registers it.
        if not DOTTED_NAME.fullmatch(self.name):
            raise TypeError(f"schedule {self.name!r}: the name must be dotted, such as 'a.b'")


class Housekeeper:
    """Registers the schedules with a worker's PgQueuer and runs each when it is due."""

    def __init__(
        self,
        schedules: Iterable[Schedule],
        session_factory: async_sessionmaker[AsyncSession],
        container: Any,
        timeout: timedelta,
    ) -> None:
        self.schedules = tuple(schedules)
        names = [schedule.name for schedule in self.schedules]
        if len(set(names)) != len(names):
            raise TypeError(f"two schedules share a name: {sorted(names)}")
        self.session_factory = session_factory
        self.container = container
        self.timeout = timeout

    def register(self, queue: PgQueuer) -> None:
        for schedule in self.schedules:
            # `clean_old`: a schedule whose timetable changed in this release replaces the
            # old row instead of running on both.
            queue.schedule(schedule.name, schedule.cron, clean_old=True)(self._runner(schedule))

    def _runner(self, schedule: Schedule) -> Callable[[ScheduleRun], Awaitable[None]]:
        async def run(_: ScheduleRun) -> None:
            await self.run(schedule)

        return run

    async def run(self, schedule: Schedule) -> None:
        """One run of `schedule`, within the job time limit; its failure is only logged."""
        try:
            async with asyncio.timeout(self.timeout.total_seconds()):
                async with self.session_factory() as session, session.begin():
                    result = await schedule.run(session, self.container)
        except Exception as error:
            logger.warning("housekeeping_failed", schedule=schedule.name, error=repr(error))
        else:
            logger.info("housekeeping_done", schedule=schedule.name, result=result)
