"""Real workers for tests: a migrated database of their own (jobs commit for real, and a
worker on another connection must see them), test tasks, and polling with a deadline."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from dependency_injector import providers
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from main import AppContainer, build_container
from shared.jobs.messages import Event, Job, Message, TaskRegistry
from shared.jobs.metrics import JobMetrics
from shared.jobs.schedules import Housekeeper, Schedule
from shared.settings import Settings
from tests.conftest import make_settings


def worker_settings(url: URL, **overrides: Any) -> Settings:
    """Quick retries and a short time limit, so failure paths take seconds."""
    values: dict[str, Any] = {
        "job_retry_delay_seconds": 0.2,
        "job_max_attempts": 3,
        "job_timeout_seconds": 2.0,
        **overrides,
    }
    return make_settings(url, **values)


def container_with(settings: Settings, tasks: TaskRegistry) -> AppContainer:
    """The app's own container (queue, runner, worker, metrics wired as in production),
    running `tasks` instead of the app's."""
    container = build_container(settings)
    container.tasks.override(providers.Object(tasks))
    return container


@asynccontextmanager
async def running_worker(
    settings: Settings, tasks: TaskRegistry, schedules: list[Schedule] | None = None
) -> AsyncIterator[JobMetrics]:
    """A worker of the app's own making, running `tasks`, and `schedules` instead of the
    app's when given."""
    container = container_with(settings, tasks)
    if schedules is not None:
        container.housekeeper.override(
            providers.Singleton(
                Housekeeper, schedules, container.session_factory, container, timedelta(seconds=5)
            )
        )
    stop = asyncio.Event()
    task = asyncio.create_task(container.worker().run(stop))
    try:
        yield container.job_metrics()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await container.engine().dispose()


async def enqueue(url: URL, tasks: TaskRegistry, *messages: Message) -> None:
    """Commit `messages` (jobs or events) in one transaction, as a request would."""
    container = container_with(make_settings(url), tasks)
    queue = container.jobs()
    try:
        async with container.session_factory()() as session, session.begin():
            for message in messages:
                if isinstance(message, Job):
                    await queue.enqueue(session, message)
                elif isinstance(message, Event):
                    await queue.publish(session, message)
    finally:
        await container.engine().dispose()


async def queue_rows(engine: AsyncEngine) -> list[tuple[str, str, int]]:
    """(task, status, attempts) of every job still in the queue table."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT headers->>'task', status::text, attempts FROM pgqueuer ORDER BY id")
        )
        return [(task, status, attempts) for task, status, attempts in rows]


async def eventually(check: Callable[[], Any], within: float = 10.0) -> None:
    """Poll `check` (sync or async, truthy when done) until it holds, for `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"not within {within} s"
        await asyncio.sleep(0.05)
