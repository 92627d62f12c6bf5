"""What every private server here needs: finding the machine's program, waiting until it
listens, stopping it."""

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

START_TIMEOUT_SECONDS = 10.0


class MissingProgram(RuntimeError):
    pass


def find_program(name: str, package: str, needed_for: str) -> str:
    """`name` on PATH, else in /usr/sbin (where Debian puts daemons, off a user's PATH)."""
    found = shutil.which(name) or next(
        (path for path in (f"/usr/sbin/{name}",) if Path(path).exists()), None
    )
    if found is None:
        raise MissingProgram(
            f"{needed_for} and found no {name}: install it (Debian: apt-get install "
            f"{package}; .ci/run does) or put it on PATH"
        )
    return found


def wait_until_listening(
    process: subprocess.Popen[bytes], port: int, why_it_exited: Callable[[], str]
) -> None:
    """Until 127.0.0.1:`port` accepts connections (START_TIMEOUT_SECONDS at most); a process
    that exits meanwhile is an error saying `why_it_exited()` (its log, say)."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited:\n{why_it_exited()}")
        time.sleep(0.05)
    raise RuntimeError(f"{process.args!r} did not listen on {port} in {START_TIMEOUT_SECONDS} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not exited 10 s later."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
