"""Cold start: `manage.py serve`, as `make run` starts it on an installed tree (the database
already migrated: it checks and finds nothing to do), to its first `200` from `/health`."""

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from .servers import ROOT, START_TIMEOUT_SECONDS, STOP_TIMEOUT_SECONDS, free_port, service_command

POLL_SECONDS = 0.01


def cold_starts(database_url: str, log: Path, count: int) -> list[float]:
    """Seconds from spawning the server to its first answer, for `count` starts in a row
    (1 worker, production settings, as the load runs use)."""
    return [_start_once(database_url, log) for _ in range(count)]


def _start_once(database_url: str, log: Path) -> float:
    port = free_port()
    command, environment = service_command(database_url, 1, port)
    command.remove("--skip-migrations")  # `make run` checks the migrations on every start
    url = f"http://127.0.0.1:{port}/health"
    with log.open("ab") as output:
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **environment},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        while time.monotonic() - started < START_TIMEOUT_SECONDS:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"the service exited with {process.returncode}: see {log}")
            time.sleep(POLL_SECONDS)
        raise RuntimeError(f"no answer from /health within {START_TIMEOUT_SECONDS} s")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
