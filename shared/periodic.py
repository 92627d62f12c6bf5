"""Housekeeping that runs every so often inside each worker (purging expired rows, say).

The job must be idempotent: every worker runs it. Failures are logged and retried at the next
tick; the first run comes one interval after start-up, so short-lived processes (tests, CLI)
never run it.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog

logger = structlog.get_logger(__name__)


@asynccontextmanager
async def running_every(
    interval: timedelta, name: str, job: Callable[[], Awaitable[object]]
) -> AsyncIterator[None]:
    async def loop() -> None:
        while True:
            await asyncio.sleep(interval.total_seconds())
            try:
                result = await job()
                logger.info("periodic_job_done", job=name, result=result)
            except Exception as error:  # a database blip must not end the loop
                logger.warning("periodic_job_failed", job=name, error=repr(error))

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
