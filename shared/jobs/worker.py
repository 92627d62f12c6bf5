"""The worker: PgQueuer running our tasks and the modules' schedules.

PgQueuer does the queue work: workers in any number of processes claim jobs with
`FOR UPDATE SKIP LOCKED`, wake on LISTEN/NOTIFY (polling as a fallback), beat a heartbeat
while a job runs (a job whose worker died is picked again once its heartbeat is stale), retry
a failing job with a back-off (`DatabaseRetryEntrypointExecutor`), run each schedule in one
worker of the deployment, and its supervisor starts everything again, on fresh connections,
after a failure such as a PostgreSQL restart. What is ours: how a job runs (`JobRunner`), that a
job which cannot run fails at once, and the metrics and logs of each attempt (`JobExecutor`).
"""

import asyncio
import contextlib
import traceback
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import pgqueuer
import structlog
from pgqueuer import DatabaseRetryEntrypointExecutor, PgQueuer, RetryRequested
from pgqueuer.executors import AbstractEntrypointExecutor, EntrypointExecutorParameters
from pgqueuer.models import Context
from pgqueuer.models import Job as QueuedJob
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from ..data.db import asyncpg_dsn, timeout_settings
from ..observability.tracing import job_span
from ..settings import Settings
from .messages import Message, Task, TaskRegistry
from .metrics import JobMetrics
from .queue import TASK_HEADER
from .schedules import Housekeeper

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = structlog.get_logger("app.jobs")

MAX_RETRY_DELAY = timedelta(minutes=15)
# Jobs claimed per round trip, and held at once by one worker process.
BATCH_SIZE = 5
MAX_JOBS_AT_ONCE = 10
# Without a NOTIFY the queue is still looked at this often. PgQueuer's trigger notifies on
# INSERT (a new job) but not on UPDATE, so a job put back (a retry whose delay ends, or
# `manage.py jobs retry`) can wait up to this long on top of its delay.
POLL_INTERVAL = timedelta(seconds=2)
RESTART_DELAY = timedelta(seconds=2)
# A running job's heartbeat is written every half of this; a job whose heartbeat is older
# (its worker was killed, or lost its machine) is picked by another worker. It does not depend
# on JOB_TIMEOUT_SECONDS: a long job keeps beating. A worker that cannot write its heartbeats
# for this long may see its job run a second time elsewhere, which handlers, run at least
# once, are written to bear.
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
# PgQueuer logs every attempt and keeps per-second counts, forever; housekeeping trims them.
HISTORY_KEPT = timedelta(days=7)
_PURGE_HISTORY = (
    # The log of a job still queued or failed is kept: `manage.py jobs` shows its last error.
    text(
        "DELETE FROM pgqueuer_log l WHERE l.created < now() - CAST(:kept AS interval)"
        " AND NOT EXISTS (SELECT FROM pgqueuer j WHERE j.id = l.job_id)"
    ),
    text("DELETE FROM pgqueuer_statistics WHERE created < now() - CAST(:kept AS interval)"),
)


async def purge_job_history(session: AsyncSession, _: object) -> int:
    """Delete PgQueuer's log and statistics rows older than HISTORY_KEPT (idempotent): the
    kernel's own housekeeping."""
    connection = await session.connection()
    purged = 0
    for statement in _PURGE_HISTORY:
        result = await connection.execute(statement, {"kept": HISTORY_KEPT})
        purged += result.rowcount
    return purged


class UnrunnableJob(Exception):
    """The job cannot succeed however often it is tried: kept as failed at once."""


class JobRunner:
    """Runs one job: finds its task, validates its payload, calls the handler in a session
    of its own, commits, all within the time limit."""

    def __init__(
        self,
        tasks: TaskRegistry,
        session_factory: async_sessionmaker[AsyncSession],
        timeout: timedelta,
        tracer_provider: "TracerProvider | None" = None,
    ) -> None:
        self.tasks = tasks
        self.session_factory = session_factory
        self.timeout = timeout
        self.tracer_provider = tracer_provider

    def read(self, task_name: str, payload: bytes | None) -> tuple[Task, Message]:
        """The job's task and message; `UnrunnableJob` when either cannot be had."""
        task = self.tasks.get(task_name)
        if task is None:
            raise UnrunnableJob(f"no handler knows the task {task_name!r}")
        try:
            message = task.message.model_validate_json(payload or b"")
        except ValidationError as error:
            raise UnrunnableJob(f"the payload of {task_name} is invalid: {error}") from None
        return task, message

    async def run(
        self, task_name: str, payload: bytes | None, headers: Mapping[str, Any] | None = None
    ) -> None:
        """Run the job; with tracing on, as a span in the trace its `headers` carry."""
        task, message = self.read(task_name, payload)
        if self.tracer_provider is None:
            await self._run(task, message)
            return
        with job_span(self.tracer_provider, task.name, headers):
            await self._run(task, message)

    async def run_queued(self, job: QueuedJob) -> None:
        """`run` for a job as PgQueuer hands it over."""
        await self.run(task_of(job), job.payload, job.headers)

    async def _run(self, task: Task, message: Message) -> None:
        try:
            async with asyncio.timeout(self.timeout.total_seconds()):
                async with self.session_factory() as session, session.begin():
                    await task.handler(session, message)
        except TimeoutError:
            raise JobTimedOut(
                f"{task.name} ran out of time ({self.timeout.total_seconds():g} s,"
                " JOB_TIMEOUT_SECONDS)"
            ) from None


class JobTimedOut(Exception):
    """The handler was cut off at JOB_TIMEOUT_SECONDS; the job is tried again."""


@dataclass
class JobExecutor(AbstractEntrypointExecutor):
    """How PgQueuer runs one of our jobs (its documented extension point for that).

    PgQueuer's `DatabaseRetryEntrypointExecutor` retries a failing attempt with an exponential
    back-off, and lets the last one fail; the entrypoint's `on_failure="hold"` then keeps the
    job as failed, with its error in PgQueuer's log. This adds what it lacks: a job that cannot
    run however often it is tried (an unknown task, an invalid payload) fails at its first
    attempt, and every outcome is counted and logged.
    """

    runner: JobRunner
    metrics: JobMetrics
    retrying: DatabaseRetryEntrypointExecutor

    @classmethod
    def factory(
        cls, runner: JobRunner, metrics: JobMetrics, *, max_attempts: int, first_delay: timedelta
    ) -> Callable[[EntrypointExecutorParameters], "JobExecutor"]:
        def make(parameters: EntrypointExecutorParameters) -> JobExecutor:
            retrying = DatabaseRetryEntrypointExecutor(
                parameters,
                # PgQueuer counts the retries made: the last of `max_attempts` tries has
                # made max_attempts - 1.
                max_attempts=max_attempts - 1,
                initial_delay=first_delay,
                max_delay=MAX_RETRY_DELAY,
            )
            return cls(parameters, runner, metrics, retrying)

        return make

    async def execute(self, job: QueuedJob, context: Context) -> None:
        task = task_of(job)
        log = logger.bind(task=task, job_id=job.id, attempt=job.attempts + 1)
        try:
            self.runner.read(task, job.payload)
            await self.retrying.execute(job, context)
        except RetryRequested as retry:
            log.warning(
                "job_retry",
                error=_describe(retry.__cause__ or retry),
                retry_in_seconds=retry.delay.total_seconds(),
            )
            self.metrics.retried.labels(task).inc()
            raise
        except Exception as error:
            log.error("job_failed", error=_describe(error), attempts=job.attempts + 1)
            self.metrics.failed.labels(task).inc()
            raise
        self.metrics.succeeded.labels(task).inc()


def task_of(job: QueuedJob) -> str:
    """The task a queued job names in its headers."""
    return str((job.headers or {}).get(TASK_HEADER, ""))


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error)).strip()


class Worker:
    """Processes the jobs queued under `entrypoints` (the kernel's and the loaded modules'),
    and runs the schedules that are due, until told to stop; any number of them share the
    queue."""

    def __init__(
        self,
        settings: Settings,
        runner: JobRunner,
        metrics: JobMetrics,
        housekeeper: Housekeeper,
        entrypoints: Sequence[str],
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.entrypoints = tuple(entrypoints)
        self.executor_factory = JobExecutor.factory(
            runner,
            metrics,
            max_attempts=settings.job_max_attempts,
            first_delay=timedelta(seconds=settings.job_retry_delay_seconds),
        )
        self.housekeeper = housekeeper
        self._dsn = asyncpg_dsn(settings.database)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; then the jobs under way finish (each within its time limit)."""
        logger.info(
            "worker_started",
            entrypoints=self.entrypoints,
            tasks=self.runner.tasks.owned_by(self.entrypoints),
            schedules=[schedule.name for schedule in self.housekeeper.schedules],
        )
        await pgqueuer.run(
            self._queue,
            dequeue_timeout=POLL_INTERVAL,
            batch_size=BATCH_SIZE,
            max_concurrent_tasks=MAX_JOBS_AT_ONCE,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            # A dead LISTEN connection ends the round; the supervisor starts a new one. Behind
            # PgBouncer LISTEN never hears anything: polling alone, by design.
            shutdown_on_listener_failure=not self.settings.db_pgbouncer,
            restart_on_failure=True,
            restart_delay=RESTART_DELAY,
            shutdown=stop,
        )
        logger.info("worker_stopped")

    @contextlib.asynccontextmanager
    async def _queue(self) -> AsyncIterator[PgQueuer]:
        timeout_ms = self.settings.db_statement_timeout_ms
        server_settings = {"application_name": "modulith-worker"}
        if self.settings.db_pgbouncer:
            # PgBouncer refuses other startup parameters, and a session-level SET would stay
            # on the server connection for its next client: the client-side timeout bounds
            # the worker's statements. Its LISTEN hears nothing through transaction pooling:
            # polling every POLL_INTERVAL finds the jobs.
            cache: dict[str, Any] = {"statement_cache_size": 0}
        else:
            server_settings |= timeout_settings(self.settings)
            cache = {}
        pool: Any = await asyncpg.create_pool(
            self._dsn,
            min_size=1,
            # LISTEN holds one; dequeues, heartbeats, logs and the scheduler share the others.
            max_size=4,
            timeout=self.settings.db_connect_timeout,
            command_timeout=timeout_ms / 1000 + 5,
            server_settings=server_settings,
            **cache,
        )
        try:
            queue = PgQueuer.from_asyncpg_pool(pool)
            for entrypoint in self.entrypoints:
                queue.entrypoint(
                    entrypoint, on_failure="hold", executor_factory=self.executor_factory
                )(self.runner.run_queued)
            self.housekeeper.register(queue)
            yield queue
        finally:
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except TimeoutError:
                pool.terminate()
