"""The worker: PgQueuer's queue manager running our tasks, with retries and a time limit.

PgQueuer does the queue work: workers in any number of processes claim jobs with
`FOR UPDATE SKIP LOCKED`, wake on LISTEN/NOTIFY (polling as a fallback), beat a heartbeat
while a job runs (a job whose worker died is picked again once its heartbeat is stale), and
its supervisor starts the manager again, on fresh connections, after a failure such as a
PostgreSQL restart. What is ours: how a job runs (`JobRunner`), and how a failure is treated
(`_RetryingExecutor`: back-off, then kept as failed).
"""

import asyncio
import contextlib
import traceback
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import pgqueuer
import structlog
from pgqueuer import Queries, QueueManager, RetryRequested
from pgqueuer.db import AsyncpgPoolDriver
from pgqueuer.executors import AbstractEntrypointExecutor, EntrypointExecutorParameters
from pgqueuer.models import Context
from pgqueuer.models import Job as QueuedJob
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db import asyncpg_dsn, timeout_settings
from ..periodic import running_every
from ..settings import Settings
from ..tracing import job_span
from .messages import TaskRegistry

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
from .metrics import JobMetrics
from .queue import ENTRYPOINT, TASK_HEADER

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
# PgQueuer logs every attempt and keeps per-second counts, forever; each worker trims them.
HISTORY_KEPT = timedelta(days=7)
_PURGE_HISTORY = (
    # The log of a job still queued or failed is kept: `manage.py jobs` shows its last error.
    text(
        "DELETE FROM pgqueuer_log l WHERE l.created < now() - CAST(:kept AS interval)"
        " AND NOT EXISTS (SELECT FROM pgqueuer j WHERE j.id = l.job_id)"
    ),
    text("DELETE FROM pgqueuer_statistics WHERE created < now() - CAST(:kept AS interval)"),
)


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

    async def run(
        self, task_name: str, payload: bytes | None, headers: Mapping[str, Any] | None = None
    ) -> None:
        """Run the job; with tracing on, as a span in the trace its `headers` carry."""
        if self.tracer_provider is None:
            await self._run(task_name, payload)
            return
        with job_span(self.tracer_provider, task_name, headers):
            await self._run(task_name, payload)

    async def _run(self, task_name: str, payload: bytes | None) -> None:
        task = self.tasks.get(task_name)
        if task is None:
            raise UnrunnableJob(f"no handler knows the task {task_name!r}")
        try:
            message = task.message.model_validate_json(payload or b"")
        except ValidationError as error:
            raise UnrunnableJob(f"the payload of {task_name} is invalid: {error}") from None
        async with asyncio.timeout(self.timeout.total_seconds()):
            async with self.session_factory() as session, session.begin():
                await task.handler(session, message)


def retry_delay(first: timedelta, failed_attempts: int) -> timedelta:
    """Exponential back-off: `first`, then twice as long after each failure, capped."""
    doublings = min(max(failed_attempts - 1, 0), 30)
    return min(first * (1 << doublings), MAX_RETRY_DELAY)


class _RetryingExecutor(AbstractEntrypointExecutor):
    """PgQueuer's extension point for how a job is executed.

    A failing attempt is put back with a back-off (`RetryRequested`) until `max_attempts`;
    the last one, or an unrunnable job, raises, and the entrypoint's `on_failure="hold"`
    keeps the job as failed with the error in PgQueuer's log.
    """

    def __init__(
        self, runner: JobRunner, metrics: JobMetrics, *, max_attempts: int, first_delay: timedelta
    ) -> None:
        super().__init__(
            EntrypointExecutorParameters(
                concurrency_limit=0, func=self.execute, accepts_context=True, on_failure="hold"
            )
        )
        self.runner = runner
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.first_delay = first_delay

    async def execute(self, job: QueuedJob, context: Context) -> None:
        task = (job.headers or {}).get(TASK_HEADER, "")
        attempt = job.attempts + 1  # PgQueuer counts the retries already made
        log = logger.bind(task=task, job_id=job.id, attempt=attempt)
        try:
            await self.runner.run(str(task), job.payload, job.headers)
        except UnrunnableJob as error:
            log.error("job_failed", error=str(error))
            self.metrics.failed.labels(task).inc()
            raise
        except Exception as error:
            cause = _describe(error)
            if attempt >= self.max_attempts:
                log.error("job_failed", error=cause, attempts=attempt)
                self.metrics.failed.labels(task).inc()
                raise
            delay = retry_delay(self.first_delay, attempt)
            log.warning("job_retry", error=cause, retry_in_seconds=delay.total_seconds())
            self.metrics.retried.labels(task).inc()
            raise RetryRequested(delay=delay, reason=cause) from error
        self.metrics.succeeded.labels(task).inc()


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "the handler ran out of time (JOB_TIMEOUT_SECONDS)"
    return "".join(traceback.format_exception_only(error)).strip()


class Worker:
    """Processes jobs until told to stop; any number of them share the queue."""

    def __init__(self, settings: Settings, runner: JobRunner, metrics: JobMetrics) -> None:
        self.settings = settings
        self.executor = _RetryingExecutor(
            runner,
            metrics,
            max_attempts=settings.job_max_attempts,
            first_delay=timedelta(seconds=settings.job_retry_delay_seconds),
        )
        # A job is cut off after JOB_TIMEOUT_SECONDS, so with a heartbeat deadline of twice
        # that, a job is never picked again while its first run is still going, even when
        # that run's heartbeats cannot be written.
        self.heartbeat_timeout = runner.timeout * 2
        self._dsn = asyncpg_dsn(settings.database)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; then the jobs under way finish (each within its time limit)."""
        logger.info("worker_started", tasks=self.executor.runner.tasks.names)
        async with running_every(timedelta(hours=1), "purge_job_history", self.purge_history):
            await self._run(stop)
        logger.info("worker_stopped")

    async def purge_history(self) -> int:
        """Delete PgQueuer's log and statistics rows older than HISTORY_KEPT (idempotent)."""
        purged = 0
        async with self.executor.runner.session_factory() as session, session.begin():
            connection = await session.connection()
            for statement in _PURGE_HISTORY:
                result = await connection.execute(statement, {"kept": HISTORY_KEPT})
                purged += result.rowcount
        return purged

    async def _run(self, stop: asyncio.Event) -> None:
        await pgqueuer.run(
            self._queue_manager,
            dequeue_timeout=POLL_INTERVAL,
            batch_size=BATCH_SIZE,
            max_concurrent_tasks=MAX_JOBS_AT_ONCE,
            heartbeat_timeout=self.heartbeat_timeout,
            # A dead LISTEN connection ends the round; the supervisor starts a new one. Behind
            # PgBouncer LISTEN never hears anything: polling alone, by design.
            shutdown_on_listener_failure=not self.settings.db_pgbouncer,
            restart_on_failure=True,
            restart_delay=RESTART_DELAY,
            shutdown=stop,
        )

    @contextlib.asynccontextmanager
    async def _queue_manager(self) -> AsyncIterator[QueueManager]:
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
            max_size=3,  # LISTEN holds one; dequeues, heartbeats and logs share the others
            timeout=self.settings.db_connect_timeout,
            command_timeout=timeout_ms / 1000 + 5,
            server_settings=server_settings,
            **cache,
        )
        try:
            manager = QueueManager(Queries(AsyncpgPoolDriver(pool)))
            manager.register_executor(ENTRYPOINT, self.executor)
            yield manager
        finally:
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except TimeoutError:
                pool.terminate()
