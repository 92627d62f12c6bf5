"""uvicorn's multi-process supervisor, with the drain (drain.py) and a listening socket that
closes when the drain ends.

uvicorn's own supervisor keeps its copy of the listening socket until it exits, after every
worker has finished: the kernel goes on accepting connections nobody will serve, and resets
them at exit. Here the supervisor closes its copy when the workers close theirs, so a
connection after the drain is refused, which clients and load balancers retry elsewhere.
"""

import time

import structlog
from uvicorn.supervisors import Multiprocess

from .config import ServerConfig

logger = structlog.get_logger("server")


class DrainingSupervisor(Multiprocess):
    config: ServerConfig

    def handle_term(self) -> None:
        logger.info("draining", seconds=self.config.shutdown_drain, workers=len(self.processes))
        self.terminate_all()  # each worker drains, then stops accepting and finishes
        time.sleep(self.config.shutdown_drain)
        for listener in self.sockets:
            listener.close()
        self.should_exit.set()  # then uvicorn's run(): the workers are joined
