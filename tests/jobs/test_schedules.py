"""Housekeeping on a timetable: every module's schedules are PgQueuer's after a worker starts,
a due schedule runs once whatever the number of workers, and a schedule's work commits."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from main import MODULES, every_schedule
from shared.jobs.messages import TaskRegistry
from shared.jobs.schedules import Schedule
from tests.jobs.harness import container_with, eventually, running_worker, worker_settings


async def scheduled(engine: AsyncEngine) -> set[tuple[str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT entrypoint, expression FROM pgqueuer_schedules")
        )
        return {(entrypoint, expression) for entrypoint, expression in rows}


async def test_every_schedule_is_in_pgqueuers_table_once_a_worker_has_started(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    expected = {(schedule.name, schedule.cron) for schedule in every_schedule(MODULES)}
    assert {name for name, _ in expected} == {
        "kernel.purge_job_history",
        "auth.purge_what_ended",
        "items.purge_expired_idempotency_keys",
        "audit.purge_old_entries",
        "users.purge_expired_exports",
    }
    async with running_worker(worker_settings(jobs_url), TaskRegistry([])):
        await eventually(lambda: _scheduled_is(jobs_engine, expected))


async def _scheduled_is(engine: AsyncEngine, expected: set[tuple[str, str]]) -> bool:
    return await scheduled(engine) == expected


async def test_a_due_schedule_runs_once_across_two_workers(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    runs: list[float] = []

    async def tick(session: AsyncSession, container: Any) -> None:
        assert session.in_transaction()
        runs.append(time.monotonic())

    every_minute = [Schedule("tests.tick", "* * * * *", tick)]
    settings = worker_settings(jobs_url)
    async with (
        running_worker(settings, TaskRegistry([]), every_minute),
        running_worker(settings, TaskRegistry([]), every_minute),
    ):
        await eventually(lambda: runs, within=75)  # the next minute, and some leeway
        await asyncio.sleep(3)  # a second worker's run would have come by now
    assert len(runs) == 1


async def test_a_failing_schedule_is_logged_and_runs_again_at_its_next_time(
    jobs_url: URL,
) -> None:
    calls: list[int] = []

    async def broken(session: AsyncSession, container: Any) -> None:
        calls.append(1)
        raise RuntimeError("the far side is down")

    container = container_with(worker_settings(jobs_url), TaskRegistry([]))
    housekeeper = container.housekeeper()
    try:
        schedule = Schedule("tests.broken", "* * * * *", broken)
        await housekeeper.run(schedule)  # raises nothing: logged
        await housekeeper.run(schedule)
    finally:
        await container.engine().dispose()
    assert calls == [1, 1]


def test_a_schedule_is_named_after_its_module() -> None:
    async def nothing(session: AsyncSession, container: Any) -> None: ...

    with pytest.raises(TypeError, match="dotted"):
        Schedule("purge", "* * * * *", nothing)


async def test_the_audit_purge_commits_through_its_schedule(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    entry_id = uuid.uuid4()
    async with jobs_engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO audit_events (id, at, action, details) VALUES (:id, :at, 'x', '{}')"),
            {"id": entry_id, "at": old},
        )
    [purge] = [s for s in every_schedule(MODULES) if s.name == "audit.purge_old_entries"]
    container = container_with(worker_settings(jobs_url), TaskRegistry([]))
    try:
        await container.housekeeper().run(purge)
    finally:
        await container.engine().dispose()
    async with jobs_engine.connect() as connection:
        left = await connection.scalar(
            text("SELECT count(*) FROM audit_events WHERE id = :id"), {"id": entry_id}
        )
    assert left == 0
