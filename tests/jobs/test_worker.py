"""The worker against real PostgreSQL: retries, failures kept and put back, time limits,
fan-out, reconnection. Test tasks record what ran; the queue table is asserted directly."""

import asyncio
import itertools
import time
from collections import Counter

from pgqueuer import Queries
from pgqueuer.db import AsyncpgDriver
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.data.db import connect_asyncpg
from shared.jobs import admin
from shared.jobs.messages import Event, Job, TaskRegistry
from shared.jobs.queue import TASK_HEADER
from shared.jobs.worker import purge_job_history
from tests.jobs.harness import (
    container_with,
    enqueue,
    eventually,
    queue_rows,
    running_worker,
    worker_settings,
)
from tests.network import tcp_proxy


class Ping(Job, name="tests.ping"):
    n: int


class Happened(Event, name="tests.happened"):
    what: str


def registry(**handlers: object) -> TaskRegistry:
    return TaskRegistry([("tests", handlers)])  # type: ignore[list-item]


async def test_a_job_runs_once_in_a_transaction_of_its_own(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    ran: list[int] = []

    async def ping(session: AsyncSession, job: Ping) -> None:
        assert session.in_transaction()
        ran.append(job.n)

    tasks = TaskRegistry([("tests", {Ping: ping})])
    async with running_worker(worker_settings(jobs_url), tasks) as metrics:
        await enqueue(jobs_url, tasks, *(Ping(n=n) for n in range(5)))
        await eventually(lambda: len(ran) == 5)
        await asyncio.sleep(0.3)  # nothing runs a second time
    assert sorted(ran) == [0, 1, 2, 3, 4]
    assert metrics.succeeded.labels("tests.ping")._value.get() == 5
    assert await queue_rows(jobs_engine) == []  # done jobs leave the queue


async def test_unknown_tasks_and_invalid_payloads_fail_their_job_not_the_worker(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    ran: list[int] = []

    async def ping(session: AsyncSession, job: Ping) -> None:
        ran.append(job.n)

    tasks = TaskRegistry([("tests", {Ping: ping})])
    connection = await connect_asyncpg(jobs_url)
    try:
        queries = Queries(AsyncpgDriver(connection))
        await queries.enqueue("tests", b"{}", headers={TASK_HEADER: "tests.gone"})
        await queries.enqueue("tests", b'{"n": "many"}', headers={TASK_HEADER: "tests.ping"})
        await queries.enqueue("tests", b"not json", headers={TASK_HEADER: "tests.ping"})
        async with running_worker(worker_settings(jobs_url), tasks):
            await enqueue(jobs_url, tasks, Ping(n=1))
            await eventually(lambda: ran == [1])
            await eventually(lambda: _failed_count_is(jobs_engine, 3))
        failed = await admin.failed_jobs(connection)
    finally:
        await connection.close()
    assert [(job.task, job.attempts) for job in failed] == [
        ("tests.gone", 1),
        ("tests.ping", 1),
        ("tests.ping", 1),
    ]  # kept at the first attempt: no retry can help them
    assert "no handler knows the task 'tests.gone'" in failed[0].error
    assert "the payload of tests.ping is invalid" in failed[1].error
    assert "the payload of tests.ping is invalid" in failed[2].error


async def _failed_count_is(engine: AsyncEngine, count: int) -> bool:
    return sum(status == "failed" for _, status, _ in await queue_rows(engine)) == count


async def test_a_failing_handler_is_retried_with_back_off_then_kept_and_can_be_put_back(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    attempts: list[float] = []
    healed = False

    async def flaky(session: AsyncSession, job: Ping) -> None:
        attempts.append(time.monotonic())
        if not healed:
            raise ConnectionRefusedError("the far side is down")

    tasks = TaskRegistry([("tests", {Ping: flaky})])
    settings = worker_settings(jobs_url, job_max_attempts=3, job_retry_delay_seconds=0.3)
    async with running_worker(settings, tasks) as metrics:
        await enqueue(jobs_url, tasks, Ping(n=1))
        await eventually(lambda: _failed_count_is(jobs_engine, 1))
        assert len(attempts) == 3  # JOB_MAX_ATTEMPTS, then kept as failed
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
        assert gaps[0] >= 0.3 and gaps[1] >= 0.6  # 0.3 s, then twice that
        assert metrics.retried.labels("tests.ping")._value.get() == 2
        assert metrics.failed.labels("tests.ping")._value.get() == 1

        connection = await connect_asyncpg(jobs_url)
        try:
            [failed] = await admin.failed_jobs(connection)
            assert (failed.task, failed.attempts) == ("tests.ping", 3)
            assert "ConnectionRefusedError" in failed.error and "far side is down" in failed.error
            healed = True
            assert await admin.retry(connection, [failed.id]) == [failed.id]
        finally:
            await connection.close()
        await eventually(lambda: len(attempts) == 4)
        await eventually(lambda: _empty(jobs_engine))
    assert metrics.succeeded.labels("tests.ping")._value.get() == 1


async def _empty(engine: AsyncEngine) -> bool:
    return await queue_rows(engine) == []


async def test_a_hanging_handler_is_cut_off_and_retried(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    calls: list[int] = []

    async def hangs_once(session: AsyncSession, job: Ping) -> None:
        calls.append(job.n)
        if len(calls) == 1:
            await asyncio.sleep(3600)

    tasks = TaskRegistry([("tests", {Ping: hangs_once})])
    settings = worker_settings(jobs_url, job_timeout_seconds=0.5, job_retry_delay_seconds=0.1)
    async with running_worker(settings, tasks) as metrics:
        started = time.monotonic()
        await enqueue(jobs_url, tasks, Ping(n=7))
        await eventually(lambda: metrics.succeeded.labels("tests.ping")._value.get() == 1)
    assert calls == [7, 7]
    assert time.monotonic() - started < 10
    assert metrics.retried.labels("tests.ping")._value.get() == 1


async def test_a_job_that_runs_out_of_time_on_its_last_attempt_is_kept_with_that_error(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    async def hangs(session: AsyncSession, job: Ping) -> None:
        await asyncio.sleep(3600)

    tasks = TaskRegistry([("tests", {Ping: hangs})])
    settings = worker_settings(jobs_url, job_timeout_seconds=0.3, job_max_attempts=1)
    async with running_worker(settings, tasks) as metrics:
        await enqueue(jobs_url, tasks, Ping(n=1))
        await eventually(lambda: _failed_count_is(jobs_engine, 1))
    connection = await connect_asyncpg(jobs_url)
    try:
        [failed] = await admin.failed_jobs(connection)
    finally:
        await connection.close()
    assert failed.attempts == 1
    assert failed.error == "JobTimedOut: tests.ping ran out of time (0.3 s, JOB_TIMEOUT_SECONDS)"
    assert metrics.failed.labels("tests.ping")._value.get() == 1


async def test_an_event_reaches_every_subscriber_and_a_failing_one_holds_back_none(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    seen: Counter[str] = Counter()

    async def audit(session: AsyncSession, event: Happened) -> None:
        seen["audit"] += 1

    async def mailer(session: AsyncSession, event: Happened) -> None:
        seen["mailer"] += 1

    async def broken(session: AsyncSession, event: Happened) -> None:
        seen["broken"] += 1
        raise RuntimeError("this subscriber always fails")

    tasks = TaskRegistry(
        [("audit", {Happened: audit}), ("mail", {Happened: mailer}), ("bad", {Happened: broken})]
    )
    settings = worker_settings(jobs_url, job_max_attempts=10, job_retry_delay_seconds=5)
    async with running_worker(settings, tasks):
        started = time.monotonic()
        await enqueue(jobs_url, tasks, Happened(what="x"), Happened(what="y"))
        await eventually(lambda: seen["audit"] == 2 and seen["mailer"] == 2, within=3)
        took = time.monotonic() - started
    assert took < 3  # not behind the failing subscriber's 5 s back-off
    assert seen["broken"] == 2  # tried once each, waiting for its retry
    rows = await queue_rows(jobs_engine)
    assert rows == [("tests.happened:bad.broken", "queued", 1)] * 2


async def test_an_event_nobody_subscribes_to_writes_nothing(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    await enqueue(jobs_url, TaskRegistry([]), Happened(what="x"))
    assert await queue_rows(jobs_engine) == []


async def test_the_worker_reconnects_after_postgresql_goes_away_and_loses_no_job(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    ran: Counter[int] = Counter()

    async def ping(session: AsyncSession, job: Ping) -> None:
        ran[job.n] += 1

    tasks = TaskRegistry([("tests", {Ping: ping})])
    async with tcp_proxy(jobs_url.port or 5432) as proxy:
        proxied = jobs_url.set(port=proxy.port)
        async with running_worker(worker_settings(proxied), tasks):
            await enqueue(jobs_url, tasks, Ping(n=1))
            await eventually(lambda: ran[1] == 1)
            await proxy.cut()  # every connection dropped, new ones refused: a restart
            await enqueue(jobs_url, tasks, Ping(n=2), Ping(n=3))  # while it is away
            await asyncio.sleep(1.5)
            assert ran[2] == ran[3] == 0
            await proxy.restore()
            await eventually(lambda: ran[2] == 1 and ran[3] == 1, within=20)
            await enqueue(jobs_url, tasks, Ping(n=4))
            await eventually(lambda: ran[4] == 1)
    assert ran == Counter({1: 1, 2: 1, 3: 1, 4: 1})  # none twice


async def test_stopping_the_worker_lets_the_job_under_way_finish(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    started = asyncio.Event()
    finished: list[int] = []

    async def slow(session: AsyncSession, job: Ping) -> None:
        started.set()
        await asyncio.sleep(1)
        await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        finished.append(job.n)

    tasks = TaskRegistry([("tests", {Slow: slow})])
    async with running_worker(worker_settings(jobs_url), tasks):
        await enqueue(jobs_url, tasks, Slow(n=1))
        await asyncio.wait_for(started.wait(), 10)
    # The context exit set the stop event and waited for the worker.
    assert finished == [1]
    assert await queue_rows(jobs_engine) == []


class Slow(Job, name="tests.slow"):
    n: int


def test_a_job_type_has_one_handler_and_names_are_dotted() -> None:
    async def one(session: AsyncSession, job: Ping) -> None: ...

    import pytest

    with pytest.raises(TypeError, match="exactly one"):
        TaskRegistry([("a", {Ping: one}), ("b", {Ping: one})])
    with pytest.raises(TypeError, match="dotted name"):

        class Bad(Job, name="NoDots"):
            pass

    with pytest.raises(LookupError, match="no handler"):
        TaskRegistry([]).tasks_for(Ping(n=1))


async def test_the_queue_history_is_trimmed_but_a_failed_jobs_log_is_kept(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    async with jobs_engine.begin() as connection:
        for statement in (
            "INSERT INTO pgqueuer (id, priority, status, entrypoint) VALUES (1, 0, 'failed', 'm')",
            "INSERT INTO pgqueuer_log (job_id, status, priority, entrypoint, created) VALUES"
            " (1, 'failed', 0, 'm', now() - interval '30 days'),"  # a failed job's: kept
            " (2, 'successful', 0, 'm', now() - interval '30 days'),"
            " (3, 'successful', 0, 'm', now() - interval '1 day')",
            "INSERT INTO pgqueuer_statistics (count, priority, status, entrypoint, created)"
            " VALUES (1, 0, 'successful', 'm', now() - interval '30 days'),"
            " (1, 0, 'successful', 'm', now())",
        ):
            await connection.execute(text(statement))
    container = container_with(worker_settings(jobs_url), TaskRegistry([]))
    for expected in (2, 0):  # idempotent
        async with container.session_factory()() as session, session.begin():
            assert await purge_job_history(session, container) == expected
    await container.engine().dispose()
    async with jobs_engine.connect() as connection:
        kept = await connection.execute(text("SELECT job_id FROM pgqueuer_log ORDER BY job_id"))
        assert kept.scalars().all() == [1, 3]
        assert await connection.scalar(text("SELECT count(*) FROM pgqueuer_statistics")) == 1
