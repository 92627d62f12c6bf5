"""Background work through the real app: requests enqueue in their own transaction, the
app's in-process worker (WORKER_IN_PROCESS) does the work, `/metrics` and `manage.py jobs`
report it. Real commits, on the jobs tests' own database, and a real SMTP server."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from dependency_injector import providers
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from devtools.local_servers.mailbox import Mailbox, smtp_server
from devtools.local_servers.ports import closed_port
from main import AppContainer, task_registry
from modules.users.public import UserDeleted
from shared.data.db import UnitOfWork
from shared.email import SendEmail
from shared.jobs.messages import Handlers
from shared.jobs.queue import JobQueue
from tests.accounts import create_account, new_email, register
from tests.conftest import build_app, http_client
from tests.e2e.server import run_manage
from tests.jobs.harness import eventually, queue_rows, worker_settings


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app), http_client(app) as client:
        yield client


def app_on(url: URL, mailbox: Mailbox | None, **overrides: Any) -> FastAPI:
    settings = worker_settings(url, mailbox=mailbox, **({"worker_in_process": True} | overrides))
    return build_app(settings)


async def test_forgot_password_commits_its_email_and_the_in_process_worker_sends_it(
    jobs_url: URL, jobs_engine: AsyncEngine, mailbox: Mailbox
) -> None:
    async with serving(app_on(jobs_url, mailbox)) as client:
        email = new_email()
        await register(client, email)
        response = await client.post("/api/v1/auth/forgot-password", json={"email": email})
        assert response.status_code == 202
        [message] = await mailbox.wait_for(1, within=5)
    assert message["To"] == email
    assert "/reset-password?token=" in str(message.get_payload())
    assert await queue_rows(jobs_engine) == []


async def test_a_request_that_fails_after_enqueueing_leaves_no_job(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    app = app_on(jobs_url, None, worker_in_process=False)

    async def enqueue_then_fail(session: UnitOfWork) -> None:
        jobs: JobQueue = app.state.container.jobs()
        await jobs.enqueue(session, SendEmail(to="a@example.com", subject="s", text="t"))
        assert await queue_rows_in(session) == ["email.send"]  # written, not yet committed
        raise RuntimeError("the use case fails after enqueueing")

    app.add_api_route("/test/enqueue-then-fail", enqueue_then_fail, methods=["POST"])
    async with serving(app) as client:
        response = await client.post("/test/enqueue-then-fail")
    assert response.status_code == 500
    assert await queue_rows(jobs_engine) == []


async def queue_rows_in(session: AsyncSession) -> list[str]:
    rows = await session.exec(text("SELECT headers->>'task' FROM pgqueuer"))  # type: ignore[call-overload]
    return [task for (task,) in rows]


def with_subscribers(app: FastAPI, extra: list[tuple[str, Handlers]]) -> None:
    container: AppContainer = app.state.container
    registry = task_registry(container.email_delivery(), *extra)
    container.tasks.override(providers.Object(registry))


async def test_users_deleted_reaches_every_subscriber_and_a_failing_one_delays_none(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    seen: Counter[str] = Counter()

    async def record(session: AsyncSession, event: UserDeleted) -> None:
        seen[str(event.user_id)] += 1

    async def broken(session: AsyncSession, event: UserDeleted) -> None:
        raise RuntimeError("always fails")

    app = app_on(jobs_url, None, job_retry_delay_seconds=30)
    with_subscribers(app, [("recorder", {UserDeleted: record}), ("broken", {UserDeleted: broken})])
    async with serving(app) as client:
        alice = await create_account(client, "alice")
        body = {"title": "espresso", "price": "2.50"}
        created = await client.post(
            "/api/v1/items", headers=alice.headers | {"Idempotency-Key": "k1"}, json=body
        )
        assert created.status_code == 201
        assert (await client.delete("/api/v1/users/me", headers=alice.headers)).status_code == 204
        await eventually(lambda: seen[alice.id] == 1, within=5)
        await eventually(lambda: _no_keys_of(jobs_engine, alice.id), within=5)
        # items' and the recorder's jobs are done and gone; the broken one waits to retry.
        broken_only = [("users.deleted:broken.broken", "queued", 1)]
        await eventually(lambda: _rows_are(jobs_engine, broken_only), within=5)


async def _rows_are(engine: AsyncEngine, rows: list[tuple[str, str, int]]) -> bool:
    return await queue_rows(engine) == rows


async def _no_keys_of(engine: AsyncEngine, owner_id: str) -> bool:
    async with engine.connect() as connection:
        count: int = await connection.scalar(
            text("SELECT count(*) FROM item_idempotency_keys WHERE owner_id = :id"),
            {"id": owner_id},
        )
    return count == 0


async def test_metrics_count_jobs_by_task_and_show_the_backlog(
    jobs_url: URL, jobs_engine: AsyncEngine, mailbox: Mailbox
) -> None:
    queued_only = app_on(jobs_url, mailbox, worker_in_process=False)
    async with serving(queued_only) as client:
        email = new_email()
        await register(client, email)
        await client.post("/api/v1/auth/forgot-password", json={"email": email})
        await asyncio.sleep(1.1)
        waiting = (await client.get("/metrics")).text
    assert 'jobs_enqueued_total{task="email.send"} 1.0' in waiting
    assert "jobs_pending 1.0" in waiting
    age = float(waiting.split("\njobs_oldest_pending_age_seconds ")[1].split()[0])
    assert 1.0 <= age < 30

    worker = app_on(jobs_url, mailbox)
    async with serving(worker) as client:
        await mailbox.wait_for(1, within=5)
        await eventually(lambda: _empty(jobs_engine))
        done = (await client.get("/metrics")).text
    assert 'jobs_succeeded_total{task="email.send"} 1.0' in done
    assert "jobs_pending 0.0" in done
    assert "jobs_oldest_pending_age_seconds 0.0" in done


async def _empty(engine: AsyncEngine) -> bool:
    return await queue_rows(engine) == []


async def test_an_email_waits_for_the_mail_server_and_goes_out_once_it_is_back(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    port = closed_port()
    app = app_on(jobs_url, Mailbox(port, []), job_max_attempts=10, job_retry_delay_seconds=0.2)
    async with serving(app) as client:
        email = new_email()
        await register(client, email)
        assert (
            await client.post("/api/v1/auth/forgot-password", json={"email": email})
        ).status_code == 202
        await eventually(lambda: _attempts_made(jobs_engine, 2), within=10)  # refused twice
        with smtp_server(port) as mailbox:
            [message] = await mailbox.wait_for(1, within=10)
            await eventually(lambda: _empty(jobs_engine))
    assert message["To"] == email


async def _attempts_made(engine: AsyncEngine, count: int) -> bool:
    return any(attempts >= count for _, _, attempts in await queue_rows(engine))


async def test_an_email_the_server_never_takes_is_kept_as_failed_then_retried_by_command(
    jobs_url: URL, jobs_engine: AsyncEngine
) -> None:
    port = closed_port()
    app = app_on(jobs_url, Mailbox(port, []), job_max_attempts=3, job_retry_delay_seconds=0.1)
    async with serving(app) as client:
        email = new_email()
        await register(client, email)
        await client.post("/api/v1/auth/forgot-password", json={"email": email})
        await eventually(lambda: _status_is(jobs_engine, "failed"), within=10)

        listing = await asyncio.to_thread(run_manage, jobs_url, "jobs")
        assert listing.returncode == 0, listing.stderr
        assert "email.send" in listing.stdout and "failed" in listing.stdout
        assert "3 attempts" in listing.stdout and "SMTPConnectError" in listing.stdout
        [job_id] = [line.split()[0] for line in listing.stdout.splitlines() if "3 attempts" in line]

        with smtp_server(port) as mailbox:
            retried = await asyncio.to_thread(run_manage, jobs_url, "jobs", "retry", job_id)
            assert retried.returncode == 0, retried.stderr
            assert f"Queued again: {job_id}" in retried.stdout
            [message] = await mailbox.wait_for(1, within=10)
            await eventually(lambda: _empty(jobs_engine))
    assert message["To"] == email
    assert (
        "no pending or failed jobs"
        in (await asyncio.to_thread(run_manage, jobs_url, "jobs")).stdout
    )


async def _status_is(engine: AsyncEngine, status: str) -> bool:
    statuses = [s for _, s, _ in await queue_rows(engine)]
    return statuses == [status]


def test_manage_jobs_without_a_database_says_so_in_one_line() -> None:
    port = closed_port()
    result = run_manage(
        URL.create("postgresql+asyncpg", host="127.0.0.1", port=port, database="x"), "jobs"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Database error: 127.0.0.1:{port}: connection refused")
