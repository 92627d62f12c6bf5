"""Background work across real processes: a crash after answering loses no e-mail, nor does a
worker killed mid-job, workers share the queue and run each job once, SIGTERM lets the job under
way finish."""

import asyncio
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.local_servers.mailbox import Mailbox, smtp_server
from devtools.local_servers.ports import closed_port
from shared.email import SendEmail
from shared.jobs.messages import TaskRegistry
from tests.accounts import new_email, register
from tests.e2e.server import RunningServer, start_server, start_worker
from tests.jobs.harness import enqueue, eventually, queue_rows

pytestmark = pytest.mark.e2e


def mail_to(mailbox: Mailbox, **env: str) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.port),
        "SMTP_STARTTLS": "false",
        **env,
    }


def dsn(url: URL) -> str:
    return url.render_as_string(hide_password=False)


async def ask_for_a_reset(server: RunningServer) -> str:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        email = new_email()
        await register(client, email)
        response = await client.post("/api/v1/auth/forgot-password", json={"email": email})
        assert response.status_code == 202
    return email


def kill(process: RunningServer) -> None:
    process.process.send_signal(signal.SIGKILL)
    process.process.wait(10)


async def test_an_api_killed_after_answering_loses_no_email_a_worker_sends_it(
    jobs_url: URL, jobs_engine: AsyncEngine, tmp_path: Path
) -> None:
    with smtp_server() as mailbox:
        env = mail_to(mailbox, WORKER_IN_PROCESS="false")
        api = await start_server(dsn(jobs_url), tmp_path / "api.log", **env)
        try:
            email = await ask_for_a_reset(api)
        finally:
            kill(api)  # right after the 202: nothing of it survives in memory
        await asyncio.sleep(1)
        assert mailbox.messages == []
        worker = await start_worker(dsn(jobs_url), tmp_path / "worker.log", **env)
        try:
            [message] = await mailbox.wait_for(1, within=15)
        finally:
            assert await worker.stop() == 0
    assert message["To"] == email
    assert await queue_rows(jobs_engine) == []


async def test_a_worker_killed_mid_job_has_its_job_done_by_the_next_within_a_minute(
    jobs_url: URL, jobs_engine: AsyncEngine, tmp_path: Path
) -> None:
    # The default settings: the killed worker's job is picked again once its heartbeat is
    # stale (HEARTBEAT_TIMEOUT), whatever JOB_TIMEOUT_SECONDS is.
    with smtp_server(delay=120) as mailbox:  # the first delivery hangs in the mail server
        env = mail_to(mailbox, WORKER_IN_PROCESS="false")
        api = await start_server(dsn(jobs_url), tmp_path / "api.log", **env)
        try:
            email = await ask_for_a_reset(api)
        finally:
            assert await api.stop() == 0
        worker = await start_worker(dsn(jobs_url), tmp_path / "worker.log", **env)
        try:
            await eventually(lambda: mailbox.started == 1, within=15)
        finally:
            kill(worker)  # mid-send
        mailbox.delay = 0
        again = await start_worker(dsn(jobs_url), tmp_path / "again.log", **env)
        started = time.monotonic()
        try:
            [message] = await mailbox.wait_for(1, within=60)
            took = time.monotonic() - started
            await eventually(lambda: _empty(jobs_engine))
        finally:
            assert await again.stop() == 0
    assert message["To"] == email
    assert took < 60
    print(f"a killed worker's job was done {took:.1f} s after the next worker started")


async def _empty(engine: AsyncEngine) -> bool:
    return await queue_rows(engine) == []


async def test_two_worker_processes_run_each_of_many_jobs_exactly_once(
    jobs_url: URL, jobs_engine: AsyncEngine, tmp_path: Path
) -> None:
    count = 100
    with smtp_server(delay=0.02) as mailbox:
        ports = [closed_port(), closed_port()]
        workers = [
            await start_worker(
                dsn(jobs_url),
                tmp_path / f"w{n}.log",
                **mail_to(mailbox),
                WORKER_METRICS_PORT=str(port),
            )
            for n, port in enumerate(ports)
        ]
        try:
            emails = [
                SendEmail(to=f"n{n}@example.com", subject="s", text=str(uuid.uuid4()))
                for n in range(count)
            ]
            names = TaskRegistry([("kernel", {SendEmail: _never_called})])
            await enqueue(jobs_url, names, *emails)
            await mailbox.wait_for(count, within=60)
            await eventually(lambda: _empty(jobs_engine))
            await asyncio.sleep(1)  # a duplicate would have arrived by now
            scrapes = [await scrape(port) for port in ports]
        finally:
            codes = [await worker.stop() for worker in workers]
    assert codes == [0, 0]
    delivered = Counter(message["Message-ID"] for message in mailbox.messages)
    assert delivered == Counter({email.message_id: 1 for email in emails})
    sent_by = [worker.output().count('"email_sent"') for worker in workers]
    assert sum(sent_by) == count
    assert all(sent_by), sent_by  # the queue was shared
    # Each worker's own metrics server counts what it did, and reads the shared backlog.
    succeeded = [
        float(text.split('jobs_succeeded_total{task="email.send"} ')[1].split()[0])
        for text in scrapes
    ]
    assert succeeded == [float(n) for n in sent_by]
    assert all("\njobs_pending 0.0" in text for text in scrapes)


async def scrape(port: int) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/")
    assert response.status_code == 200
    return response.text


async def _never_called(*_: object) -> None:
    raise AssertionError("only names the task for enqueueing")


async def test_sigterm_lets_the_job_under_way_finish(
    jobs_url: URL, jobs_engine: AsyncEngine, tmp_path: Path
) -> None:
    with smtp_server(delay=2) as mailbox:
        worker = await start_worker(dsn(jobs_url), tmp_path / "worker.log", **mail_to(mailbox))
        email = SendEmail(to="ada@example.com", subject="s", text="t")
        await enqueue(jobs_url, TaskRegistry([("kernel", {SendEmail: _never_called})]), email)
        await eventually(lambda: mailbox.started == 1, within=10)
        assert await worker.stop() == 0  # SIGTERM mid-delivery
        [message] = mailbox.messages
    assert message["Message-ID"] == email.message_id
    assert await queue_rows(jobs_engine) == []
    assert '"worker_stopped"' in worker.output()
