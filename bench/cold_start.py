"""Cold start: `manage.py serve`, as `make run` starts it on an installed tree (the database
already migrated: it checks and finds nothing to do), to its first `200` from `/health`."""

import time
from pathlib import Path

from .servers import free_port, service_command, serving

POLL_SECONDS = 0.01


def cold_starts(database_url: str, logs: Path, count: int) -> list[float]:
    """Seconds from spawning the server to its first answer, for `count` starts in a row
    (1 worker, production settings, as the load runs use); one log per start in `logs`."""
    return [_start_once(database_url, logs / f"cold-start-{n}.log") for n in range(1, count + 1)]


def _start_once(database_url: str, log: Path) -> float:
    port = free_port()
    command, environment = service_command(database_url, 1, port)
    command.remove("--skip-migrations")  # `make run` checks the migrations on every start
    started = time.monotonic()
    with serving("service", command, environment, port, log, POLL_SECONDS):
        return time.monotonic() - started
