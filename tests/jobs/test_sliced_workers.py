"""Module slicing with real worker processes (`manage.py worker`, what `make worker` runs): a
worker takes only the jobs of the modules it loads; another module's wait in the queue for a
worker that has it. A module listed without what it needs stops start-up with one line."""

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from main import build_container
from modules.users.public import UserDeleted
from shared.email import SendEmail
from tests.conftest import make_settings
from tests.e2e.server import ROOT, start_worker
from tests.jobs.harness import enqueue, eventually, queue_rows

pytestmark = pytest.mark.e2e
WITHOUT_ITEMS = "health,users,auth,audit"


async def test_a_worker_runs_only_its_modules_jobs_and_leaves_the_others_queued(
    jobs_url: URL, jobs_engine: AsyncEngine, tmp_path: Path
) -> None:
    tasks = build_container(make_settings(jobs_url)).tasks()
    mail = SendEmail(to="someone@example.com", subject="kernel's", text="sent by any worker")
    # users.deleted: a job for its one subscriber, the items module.
    await enqueue(jobs_url, tasks, mail, UserDeleted(user_id=uuid.uuid4()))
    database_url = jobs_url.render_as_string(hide_password=False)
    sliced = await start_worker(database_url, tmp_path / "sliced.log", MODULES=WITHOUT_ITEMS)
    try:
        # The kernel's job (the e-mail, to the log) and the users, auth and audit erasers are
        # done: the worker has polled since.
        await eventually(
            lambda: _tasks_left(jobs_engine, ["users.deleted:items.erase_personal_data"])
        )
        await asyncio.sleep(2.5)  # a poll later (POLL_INTERVAL: 2 s), still there
        assert await queue_rows(jobs_engine) == [
            ("users.deleted:items.erase_personal_data", "queued", 0)
        ]
        assert '"entrypoints": ["audit", "auth", "kernel", "users"]' in sliced.output()
        with_items = await start_worker(
            database_url, tmp_path / "items.log", MODULES="items,users,auth,audit"
        )
        try:
            await eventually(lambda: _tasks_left(jobs_engine, []))
        finally:
            assert await with_items.stop() == 0
    finally:
        assert await sliced.stop() == 0
    assert "kernel's" in sliced.output()  # the e-mail was the sliced worker's


async def _tasks_left(engine: AsyncEngine, expected: list[str]) -> bool:
    return [task for task, _, _ in await queue_rows(engine)] == expected


@pytest.mark.parametrize(
    ("modules", "line"),
    [
        (
            "health,items",
            "Configuration error: MODULES: items needs users, which is not listed"
            " (its Module.depends_on)",
        ),
        (
            "health,orders",
            "Configuration error: MODULES: no module is named 'orders' (the modules: health,"
            " users, auth, items, audit)",
        ),
    ],
)
def test_a_bad_modules_setting_stops_the_worker_with_one_line(modules: str, line: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "worker"],
        cwd=ROOT,
        env={**os.environ, "MODULES": modules},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == line
