"""`manage.py serve`: one uvicorn process in development, gunicorn under a drain in production."""

import asyncio
import os
import signal
import sys
import tempfile
from pathlib import Path

import structlog
import uvicorn

from shared.observability.metrics import MULTIPROCESS_DIRECTORY
from shared.settings import Settings

from .drain import DRAIN_FLAG_VARIABLE
from .worker import GRACEFUL_SHUTDOWN_SECONDS

logger = structlog.get_logger("server")
GUNICORN = [
    sys.executable,
    "-m",
    "gunicorn",
    "--config",
    "python:shared.serving.gunicorn_conf",
    "main:create_app()",
]


def serve_development(settings: Settings, *, reload: bool) -> None:
    """uvicorn as `make run` and `make dev` use it: one process (WORKERS of them if set),
    reloading on changes with `reload`."""
    with tempfile.TemporaryDirectory(prefix="modulith-metrics-") as metrics:
        if settings.workers > 1 and not reload:
            # Every worker writes its metrics there; /metrics sums them (set before they
            # start, removed after they stopped).
            os.environ[MULTIPROCESS_DIRECTORY] = metrics
        uvicorn.run(
            "main:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=None if reload else settings.workers,
            reload=reload,
            log_config=None,  # our logging is configured already; keep uvicorn's lines in it
            access_log=False,  # the app logs one structured line per request itself
            server_header=False,
            proxy_headers=False,  # the app reads X-Forwarded-For itself, from TRUSTED_PROXIES
            timeout_keep_alive=settings.keepalive_timeout_seconds,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )


def serve_production(settings: Settings) -> int:
    """gunicorn, with uvicorn's worker class (gunicorn_conf.py), until SIGTERM or SIGINT; its
    exit code.

    On SIGTERM the drain comes first: every worker's `/ready` answers 503 at once while it
    still serves, for SHUTDOWN_DRAIN_SECONDS; then gunicorn's own graceful stop (it closes the
    listening sockets, so new connections are refused and a load balancer retries them
    elsewhere, and the workers finish what they hold)."""
    with tempfile.TemporaryDirectory(prefix="modulith-serve-") as run_directory:
        metrics = Path(run_directory, "metrics")
        metrics.mkdir()
        environment = {
            **os.environ,
            MULTIPROCESS_DIRECTORY: str(metrics),
            DRAIN_FLAG_VARIABLE: str(Path(run_directory, "draining")),
        }
        return asyncio.run(_supervise(environment, settings.shutdown_drain_seconds))


async def _supervise(environment: dict[str, str], drain_seconds: float) -> int:
    server = await asyncio.create_subprocess_exec(*GUNICORN, env=environment)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    exited = asyncio.create_task(server.wait())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not exited.done():
        await asyncio.to_thread(Path(environment[DRAIN_FLAG_VARIABLE]).touch)
        logger.info("draining", seconds=drain_seconds)
        await asyncio.wait({exited}, timeout=drain_seconds)
        if not exited.done():
            server.send_signal(signal.SIGTERM)  # gunicorn's graceful stop
    stopping.cancel()
    return await exited
