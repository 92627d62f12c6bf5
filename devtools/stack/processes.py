"""The service's own processes in the stack: API nodes and job workers, each a `manage.py`
command in a process group of its own, so that a node (its gunicorn and every worker of it)
can be killed at once, as a machine failing would."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60.0
# SHUTDOWN_DRAIN_SECONDS, then gunicorn's graceful stop (shared/serving), with a margin.
STOP_TIMEOUT_SECONDS = 45.0


@dataclass
class ServiceProcess:
    name: str
    arguments: list[str]  # of manage.py
    environment: dict[str, str]
    log: Path
    port: int | None = None  # an API node's
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _alive(self) -> subprocess.Popen[bytes] | None:
        """The process, while it runs."""
        return self.process if self.process is not None and self.process.poll() is None else None

    async def start(self) -> None:
        """Started, and answering `/ready` (an API node) or dequeuing (a worker)."""
        logged_before = self.log.stat().st_size if self.log.exists() else 0
        self.process = process = await asyncio.to_thread(self._spawn)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited at start; its log: {self.log}")
                if await self._started(client, logged_before):
                    return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start in {START_TIMEOUT_SECONDS} s: {self.log}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as output:
            return subprocess.Popen(
                [sys.executable, "manage.py", *self.arguments],
                cwd=ROOT,
                env=self.environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: see kill()
            )

    async def _started(self, client: httpx.AsyncClient, logged_before: int) -> bool:
        if self.port is None:
            with self.log.open("rb") as log:
                log.seek(logged_before)
                return b"worker_started" in log.read()
        try:
            return (await client.get(f"{self.url}/ready")).status_code == 200
        except httpx.TransportError:
            return False

    async def stop(self) -> int | None:
        """SIGTERM, as a process manager stops it (an API node drains first); its exit code."""
        process = self._alive()
        if process is None:
            return None
        process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(process.wait, STOP_TIMEOUT_SECONDS)

    def kill(self) -> None:
        """SIGKILL to the whole process group: the node's gunicorn and workers die with it."""
        process = self._alive()
        if process is not None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
