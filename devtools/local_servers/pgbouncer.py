"""A real PgBouncer in transaction pooling mode, in front of the suite's PostgreSQL server.

From Debian's package (`.ci/run` installs it). PgBouncer refuses to run as root: as root it
runs as the `postgres` system user. It listens on 127.0.0.1 only, on a free port.
"""

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy.engine import URL

from .ports import closed_port
from .service_user import as_service_user, give_to_service_user

START_TIMEOUT_SECONDS = 10.0


class NoPgBouncer(RuntimeError):
    pass


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer",) if Path(path).exists()), None
    )
    if found is None:
        raise NoPgBouncer(
            "this test runs the app through a real PgBouncer and found none: install it "
            "(Debian: apt-get install pgbouncer; .ci/run does) or put it on PATH"
        )
    return found


@contextmanager
def pgbouncer(server: URL, *, server_connections: int) -> Iterator[URL]:
    """PgBouncer (transaction pooling, `server_connections` per database and user) in front
    of `server`; yields `server` with PgBouncer's host and port."""
    binary = pgbouncer_binary()
    directory = Path(tempfile.mkdtemp(prefix="modulith-pgbouncer-"))
    port = closed_port()
    user = server.username or "postgres"
    (directory / "users.txt").write_text(f'"{user}" "{server.password or ""}"\n')
    (directory / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={server.host or "127.0.0.1"} port={server.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = {"plain" if server.password else "trust"}
auth_file = {directory / "users.txt"}
pool_mode = transaction
default_pool_size = {server_connections}
max_client_conn = 500
logfile = {directory / "pgbouncer.log"}
"""
    )
    give_to_service_user(directory, *directory.iterdir())
    process = subprocess.Popen(
        as_service_user([binary, str(directory / "pgbouncer.ini")]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None:
                raise RuntimeError(
                    f"pgbouncer exited:\n{(directory / 'pgbouncer.log').read_text()}"
                )
            time.sleep(0.05)
        yield server.set(host="127.0.0.1", port=port)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(directory, ignore_errors=True)
