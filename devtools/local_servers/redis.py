"""A redis-server of the caller's own, which it may kill or freeze, on 127.0.0.1 and a free
port, keeping nothing on disk. Used by tests/shared/test_rate_limit.py and bench/faults.py."""

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .ports import closed_port
from .programs import find_program, wait_until_listening


@dataclass
class PrivateRedis:
    process: subprocess.Popen[bytes]
    url: str


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    executable = find_program("redis-server", "redis-server", "this runs a Redis of its own")
    port = closed_port()
    command = [executable, "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_listening(process, port, lambda: "(its output is not kept)")
        yield PrivateRedis(process, f"redis://127.0.0.1:{port}/0")
    finally:
        process.send_signal(signal.SIGCONT)  # a frozen one must wake to die
        process.kill()
        process.wait(10)
