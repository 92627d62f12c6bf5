"""The servers under load: the service as `make run` starts it in production, the FastAPI
floor and the bare-stack reference. All on 127.0.0.1 only, each on a free port, stopped with
SIGTERM."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
# The limiter still counts every request (its cost is part of the figures); the budget is out
# of reach, since one user and one address send everything.
OUT_OF_REACH = "1000000000/minute"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_command(database_url: str, workers: int, port: int) -> tuple[list[str], dict[str, str]]:
    environment = {
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": str(workers),
        "LOG_LEVEL": "WARNING",  # the access line is INFO: access log off
        "REDIS_URL": "",
        "RATE_LIMIT_DEFAULT": OUT_OF_REACH,
        "RATE_LIMIT_LOGIN": OUT_OF_REACH,
        "RATE_LIMIT_SENSITIVE": OUT_OF_REACH,
        # Production refuses the console backend; the benchmark sends no e-mail.
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
    }
    return [sys.executable, "manage.py", "serve", "--skip-migrations"], environment


def comparison_command(
    factory: str, dsn: str, owner_id: str, workers: int, port: int
) -> tuple[list[str], dict[str, str]]:
    """uvicorn serving `factory` (bench.floor:create_app or bench.reference:create_app)."""
    command = [
        sys.executable, "-m", "uvicorn", "--factory", factory,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    return command, {"REFERENCE_DSN": dsn, "REFERENCE_OWNER_ID": owner_id}


@contextmanager
def serving(
    name: str,
    command: list[str],
    environment: dict[str, str],
    port: int,
    log: Path,
    poll_seconds: float = 0.2,
) -> Iterator[str]:
    """Runs the server until the block ends; yields its base URL once /health answers
    (asked every `poll_seconds`)."""
    base_url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **environment},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(name, process, base_url, log, poll_seconds)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(
    name: str, process: subprocess.Popen[bytes], url: str, log: Path, poll_seconds: float
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(poll_seconds)
    raise RuntimeError(f"{name} did not answer /health within {START_TIMEOUT_SECONDS}s")
