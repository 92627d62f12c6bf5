"""The kernel's door to the queue: `JobQueue.enqueue` and `JobQueue.publish`.

Jobs are written by PgQueuer's own enqueue, on the connection of the caller's session, so a
job exists if and only if the caller's transaction commits (no outbox to relay), and the
queue's NOTIFY, sent at that commit, wakes a worker at once.
"""

import asyncio
from datetime import timedelta

from pgqueuer import Queries
from pgqueuer.ports.driver import TaskManagerPort
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from ..observability.tracing import carry_trace
from .messages import Event, Job, Message, Task, TaskRegistry

# A job is queued under its task's owner, PgQueuer's entrypoint: the module whose handler it
# is, or "kernel". A worker takes the jobs of the modules it loads (MODULES); another module's
# wait for a worker that loads it. The task is named in the job's headers: the owner's worker
# fails a job whose task it does not know with a clear error, never leaves it queued forever.
TASK_HEADER = "task"


class SessionConnectionDriver:
    """PgQueuer's driver port (`pgqueuer.ports.driver.Driver`) over a session's connection,
    inside its transaction: what PgQueuer's `Queries.enqueue` runs goes through SQLAlchemy,
    which begins the transaction first if nothing has yet.

    A request's connection only writes: the port's listening and worker parts (LISTEN, the
    shutdown event, the task manager) belong to a worker's own driver and are refused here.
    """

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def fetch(self, query: str, *args: object) -> list[dict[str, object]]:
        result = await self.connection.exec_driver_sql(query, args)
        return [dict(row) for row in result.mappings()]

    async def execute(self, query: str, *args: object) -> str:
        await self.connection.exec_driver_sql(query, args)
        return ""

    async def notify(self, channel: str, payload: str) -> None:
        await self.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def add_listener(self, channel: str, callback: object) -> None:
        raise NotImplementedError("a request's connection does not listen")

    async def remove_listener(self, channel: str, callback: object) -> None:
        raise NotImplementedError("a request's connection does not listen")

    @property
    def shutdown(self) -> asyncio.Event:
        raise NotImplementedError("a request's connection runs no worker")

    @property
    def tm(self) -> TaskManagerPort:
        raise NotImplementedError("a request's connection runs no worker")

    async def __aenter__(self) -> "SessionConnectionDriver":
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


class JobQueue:
    """Enqueue jobs and publish events in the caller's transaction."""

    def __init__(self, tasks: TaskRegistry, enqueued: Counter, *, traced: bool = False) -> None:
        self.tasks = tasks
        self.enqueued = enqueued
        self.traced = traced  # tracing is on: each job carries the trace that queued it

    async def enqueue(
        self, session: AsyncSession, job: Job, *, delay: timedelta | None = None
    ) -> None:
        """Run `job` after the commit (and `delay`), by the handler registered for it."""
        await self._write(session, job, self.tasks.tasks_for(job), delay)

    async def publish(self, session: AsyncSession, event: Event) -> None:
        """One job per subscriber of `event`, written in the caller's transaction."""
        await self._write(session, event, self.tasks.tasks_for(event), None)

    def _headers(self, task: Task) -> dict[str, str]:
        headers = {TASK_HEADER: task.name}
        if self.traced:
            carry_trace(headers)
        return headers

    async def _write(
        self, session: AsyncSession, message: Message, tasks: list[Task], delay: timedelta | None
    ) -> None:
        if not tasks:  # an event nobody subscribes to
            return
        payload = message.model_dump_json().encode()
        queries = Queries(SessionConnectionDriver(await session.connection()))
        await queries.enqueue(
            [task.owner for task in tasks],
            [payload] * len(tasks),
            [0] * len(tasks),
            [delay] * len(tasks),
            None,
            [self._headers(task) for task in tasks],
        )
        # Counted when written: a transaction rolled back later takes its jobs with it.
        for task in tasks:
            self.enqueued.labels(task.name).inc()
