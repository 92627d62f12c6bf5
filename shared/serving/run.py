"""`serve_api`: uvicorn as `manage.py serve` runs it (what uvicorn.run does, with our config,
protocol and supervisor)."""

import os
import sys
import tempfile

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import ChangeReload

from shared.observability.metrics import MULTIPROCESS_DIRECTORY
from shared.settings import Settings

from .config import ServerConfig
from .protocol import BoundedHttpToolsProtocol
from .supervisor import DrainingSupervisor

# On SIGTERM, after the drain: the longest a request in flight is waited for before it is
# cancelled and the app shut down. Process managers must wait longer than drain + this.
GRACEFUL_SHUTDOWN_SECONDS = 20


def serve_api(settings: Settings, *, reload: bool) -> None:
    config = ServerConfig(
        "main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=None if reload else settings.workers,
        reload=reload,
        http=BoundedHttpToolsProtocol,
        max_header_bytes=settings.max_header_bytes,
        client_timeout=settings.client_header_timeout_seconds,
        shutdown_drain=settings.shutdown_drain_seconds,
        log_config=None,  # our logging is configured already; keep uvicorn's lines in it
        access_log=False,  # the app logs one structured line per request itself
        server_header=False,  # no `Server: uvicorn` telling what runs here
        # The app reads X-Forwarded-For itself, from TRUSTED_PROXIES only (uvicorn's own
        # handling would trust 127.0.0.1 by default).
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        # Above the idle timeouts of the common proxies (60 s): the proxy, not us, closes an
        # idle upstream connection, so it never sends a request on one we are closing.
        timeout_keep_alive=settings.keepalive_timeout_seconds,
        # The supervisor restarts a worker that does not answer its ping within this. Each
        # worker imports the app first, so several workers starting together on a small
        # machine need well over uvicorn's default of 5 s.
        timeout_worker_healthcheck=30,
    )
    server = uvicorn.Server(config)
    try:
        if config.should_reload:
            ChangeReload(config, target=server.run, sockets=[config.bind_socket()]).run()
        elif config.workers > 1:
            # Set before the workers start (they read it when they import prometheus-client).
            with tempfile.TemporaryDirectory(prefix="modulith-metrics-") as metrics:
                os.environ[MULTIPROCESS_DIRECTORY] = metrics
                DrainingSupervisor(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:  # Ctrl-C twice: uvicorn stopped at once
        pass
    if config.workers == 1 and not config.should_reload and not server.started:
        sys.exit(STARTUP_FAILURE)  # the port was taken, or the app's start-up failed
