"""The real server in a subprocess, started the way `make run` starts it."""

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import URL, make_url

from devtools.local_servers.ports import closed_port
from shared.data.provisioning import drop_database
from tests.conftest import LIMITS_OUT_OF_REACH

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
# The production entry (gunicorn with uvicorn's workers, the drain): what a deployment runs.
# Production refuses the console mailer; nothing is mailed unless a test points SMTP_* at its
# own mail server.
PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": secrets.token_urlsafe(48),
    "EMAIL_BACKEND": "smtp",
    "SMTP_HOST": "127.0.0.1",
}


def run_manage(database_url: URL, *args: str) -> subprocess.CompletedProcess[str]:
    """`python manage.py ARGS` against `database_url`, to its end (at most a minute)."""
    env = {**os.environ, "DATABASE_URL": database_url.render_as_string(hide_password=False)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def stop(self) -> int:
        """SIGTERM, as a process manager would; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.process.wait, STOP_TIMEOUT_SECONDS)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A manage.py command in the background, its output to `log`."""
    with log.open("wb") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


async def start_server(
    database_url: str, log: Path, python: str = sys.executable, **env: str
) -> RunningServer:
    """`python manage.py serve` (what `make run` runs after installing), on a free port."""
    port = closed_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "LOG_FORMAT": "json",
        "REDIS_URL": "",
        # The e2e tests send hundreds of requests from one address; the limits themselves
        # are tested in tests/shared/test_rate_limit.py (and still counted here).
        **{name.upper(): rate for name, rate in LIMITS_OUT_OF_REACH.items()},
        **env,
    }
    process = _spawn([python, "manage.py", "serve"], environment, log)
    server = RunningServer(process, f"http://127.0.0.1:{port}", log)
    # Started means every worker has: one answering /health while another still imports
    # would leave a test signalling a half-started server. uvicorn logs each start at INFO;
    # at a quieter level (bench.faults), the first answer has to do.
    quiet = environment.get("LOG_LEVEL", "INFO").upper() not in ("DEBUG", "INFO")
    workers = 0 if quiet else int(environment.get("WORKERS") or 1)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{server.output()}")
            try:
                started = server.output().count("Application startup complete") >= workers
                if started and (await client.get("/health")).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    await server.stop()
    raise RuntimeError(
        f"server did not answer within {START_TIMEOUT_SECONDS} s:\n{server.output()}"
    )


async def start_worker(
    database_url: str, log: Path, python: str = sys.executable, **env: str
) -> RunningServer:
    """`python manage.py worker` (what `make worker` runs); returns once it has started."""
    environment = {**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json", **env}
    process = _spawn([python, "manage.py", "worker"], environment, log)
    worker = RunningServer(process, "", log)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited with {process.returncode}:\n{worker.output()}")
        if "worker_started" in worker.output():
            return worker
        await asyncio.sleep(0.1)
    await worker.stop()
    raise RuntimeError(f"worker did not start within {START_TIMEOUT_SECONDS} s")


@asynccontextmanager
async def serving_fresh_database(
    server_url: str | URL, log: Path, **env: str
) -> AsyncIterator[tuple[RunningServer, URL]]:
    """`start_server` on a database of its own on the PostgreSQL at `server_url` (created and
    migrated by the server, as `make run` does), stopped and dropped afterwards. Yields the
    server and its database's URL."""
    url = make_url(server_url).set(database=f"modulith_e2e_{uuid.uuid4().hex[:12]}")
    try:
        server = await start_server(url.render_as_string(hide_password=False), log, **env)
        try:
            yield server, url
        finally:
            await server.stop()
    finally:
        await drop_database(url)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(*pids: int) -> float:
    """CPU time the processes `pids` and everything they started have used so far (a
    production node: the drain's parent, gunicorn's master and its workers)."""

    def with_descendants(pid: int) -> list[int]:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [pid, *(found for child in children for found in with_descendants(int(child)))]

    return sum(cpu_seconds(found) for pid in pids for found in with_descendants(pid))
