"""uvicorn's multi-process supervisor, with the drain (drain.py) and a listening socket that
closes when the drain ends.

uvicorn's own supervisor keeps its copy of the listening socket until it exits, after every
worker has finished: the kernel goes on accepting connections nobody will serve, and resets
them at exit. Here the supervisor closes its copy at SIGTERM, so the socket closes with the
workers' copies when their drain ends: a connection after that is refused, which clients and
load balancers retry elsewhere.
"""

import os
import signal
import socket
import time
from types import FrameType

import structlog
from prometheus_client.multiprocess import mark_process_dead
from uvicorn.supervisors import Multiprocess

from shared.observability.metrics import MULTIPROCESS_DIRECTORY

from .config import ServerConfig

logger = structlog.get_logger("server")


class DrainingSupervisor(Multiprocess):
    config: ServerConfig

    def __init__(self, config: ServerConfig, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        signal.signal(signal.SIGTERM, self._pass_sigterm_on)

    def _pass_sigterm_on(self, signum: int, _frame: FrameType | None) -> None:
        # uvicorn's loop reads its queued signals every 0.5 s; the workers' drain (and /ready's
        # 503) starts now. Only the signal: Process.terminate() would also close the pipes the
        # loop may be pinging workers through this very moment (and it would kill them as
        # hung). The rest waits for the loop: handle_term.
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)
        self.signal_queue.append(signum)

    def keep_subprocess_alive(self) -> None:
        """uvicorn's (a dead or hung worker is replaced), and the metrics of a worker that is
        gone stop counting in the live gauges (in-flight requests, the pool)."""
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        directory = os.environ.get(MULTIPROCESS_DIRECTORY)
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None and directory:
                mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]

    def handle_term(self) -> None:
        logger.info("draining", seconds=self.config.shutdown_drain, workers=len(self.processes))
        # Our copy accepts nothing; closed now, the socket stops listening the moment the
        # last worker closes its own (each accepting until then), so the kernel queues no
        # connection for nobody to take.
        for listener in self.sockets:
            listener.close()
        self.terminate_all()  # each worker drains, then stops accepting and finishes
        time.sleep(self.config.shutdown_drain)
        self.should_exit.set()  # then uvicorn's run(): the workers are joined
