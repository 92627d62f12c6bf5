"""The export of people who own nothing, 10,000 and 50,000 items (README, "Personal data"):
how long a real worker (`manage.py worker`) takes to build each, its size, and the worker's
peak memory after each (exporters stream: it must stay flat as the archive grows). One run,
on the local PostgreSQL.

    uv run python -m bench.export
"""

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from main import build_container
from shared.data.db import asyncpg_dsn
from shared.data.provisioning import drop_database
from shared.settings import Settings
from tests.e2e.server import start_worker  # the suite's harness for a worker process

from .database import SEED, SEED_ITEMS, recreate

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/modulith_bench_export"
READY_WITHIN_SECONDS = 120.0


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


async def add_person(connection: asyncpg.Connection, items: int) -> uuid.UUID:
    person = uuid.uuid4()
    await connection.execute(
        "INSERT INTO users (id, email, hashed_password, is_active, is_superuser, is_verified,"
        " mfa_enabled, created_at, updated_at)"
        " VALUES ($1, $2, 'not a hash', true, false, true, false, now(), now())",
        person,
        f"bench-{person.hex[:8]}@example.com",
    )
    if items:
        await connection.execute(SEED, person, items)
    return person


async def export_of(settings: Settings, person: uuid.UUID) -> uuid.UUID:
    """A pending export of `person` and its job, committed, as POST /users/me/export does."""
    container = build_container(settings)
    try:
        async with container.session_factory()() as session, session.begin():
            export = await container.users.data_exports().request(session, person)
        exported: uuid.UUID = export.id
        return exported
    finally:
        await container.engine().dispose()


async def until_ready(connection: asyncpg.Connection, export: uuid.UUID) -> float:
    started = time.monotonic()
    while time.monotonic() - started < READY_WITHIN_SECONDS:
        ready = await connection.fetchval(
            "SELECT completed_at IS NOT NULL FROM data_exports WHERE id = $1", export
        )
        if ready:
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise RuntimeError(f"the export was not ready within {READY_WITHIN_SECONDS} s")


async def main() -> None:
    url = make_url(os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    await recreate(url)
    database_url = url.render_as_string(hide_password=False)
    settings = Settings(_env_file=None, database_url=database_url)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    log = Path(tempfile.mkdtemp(prefix="modulith-bench-export-")) / "worker.log"
    try:
        people = {"nothing": await add_person(connection, 0)}
        for items in (SEED_ITEMS, 5 * SEED_ITEMS):
            people[f"{items:,} items"] = await add_person(connection, items)
        worker = await start_worker(database_url, log, EMAIL_BACKEND="console")
        try:
            print(f"worker started: peak RSS {peak_rss_mb(worker.process.pid):.1f} MB")
            print("| person owns | export built in | archive | pieces | worker peak RSS |")
            print("|---|---|---|---|---|")
            for owned, person in people.items():
                export = await export_of(settings, person)
                seconds = await until_ready(connection, export)
                size, pieces = await connection.fetchrow(
                    "SELECT sum(length(content)), count(*) FROM data_export_chunks"
                    " WHERE export_id = $1",
                    export,
                )
                print(
                    f"| {owned} | {seconds:.2f} s | {size / 1e6:.2f} MB | {pieces} |"
                    f" {peak_rss_mb(worker.process.pid):.1f} MB |",
                    flush=True,
                )
        finally:
            await worker.stop()
    finally:
        await connection.close()
        await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
