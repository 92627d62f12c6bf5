"""The drain before a graceful stop: after SIGTERM, `/ready` answers 503 at once while requests
are still served for SHUTDOWN_DRAIN_SECONDS, so a load balancer polling it stops sending new
work; only then does uvicorn stop accepting and finish what it holds.
"""

import asyncio
import signal
from types import FrameType

import structlog
import uvicorn

logger = structlog.get_logger("server")
_draining = False


def is_draining() -> bool:
    """True in a process that received SIGTERM and is about to stop."""
    return _draining


def serving_server() -> uvicorn.Server | None:
    """The uvicorn server serving this process, read from the app's start-up (uvicorn installs
    its signal handlers first); None in a process not served by uvicorn (the tests, another
    server)."""
    # uvicorn's handler of SIGINT (and of SIGTERM, until the drain takes that one over) is
    # the bound Server.handle_exit.
    server = getattr(signal.getsignal(signal.SIGINT), "__self__", None)
    return server if isinstance(server, uvicorn.Server) else None


def drain_on_sigterm(seconds: float) -> None:
    """Delay uvicorn's reaction to SIGTERM by `seconds`, draining meanwhile. Called from the
    app's start-up, in each serving process: a process not served by uvicorn is left as it
    is."""
    server = serving_server()
    if server is None:
        return
    loop = asyncio.get_running_loop()

    def begin_drain(signum: int, frame: FrameType | None) -> None:
        global _draining
        if _draining:  # the supervisor's second SIGTERM: the drain under way ends the server
            return
        _draining = True
        logger.info("draining", seconds=seconds)
        # Signal handlers run between two bytecodes of the loop's thread: hand over safely.
        loop.call_soon_threadsafe(loop.call_later, seconds, server.handle_exit, signum, frame)

    signal.signal(signal.SIGTERM, begin_drain)
