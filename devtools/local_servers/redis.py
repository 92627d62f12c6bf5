"""A redis-server of the caller's own, which it may kill or freeze, on 127.0.0.1 and a free
port, keeping nothing on disk. Used by tests/shared/test_rate_limit.py and bench/faults.py."""

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from .ports import closed_port

START_TIMEOUT_SECONDS = 10.0


@dataclass
class PrivateRedis:
    process: subprocess.Popen[bytes]
    url: str


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("needs redis-server (Debian: apt-get install redis-server)")
    port = closed_port()
    command = [executable, "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.05)
        yield PrivateRedis(process, f"redis://127.0.0.1:{port}/0")
    finally:
        process.send_signal(signal.SIGCONT)  # a frozen one must wake to die
        process.kill()
        process.wait(10)
