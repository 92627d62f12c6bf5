"""A real PgBouncer in transaction pooling mode, in front of the suite's PostgreSQL server.

From Debian's package (`.ci/run` installs it). PgBouncer refuses to run as root: as root it
runs as the `postgres` system user. It listens on 127.0.0.1 only, on a free port.
"""

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL

from .ports import closed_port
from .programs import find_program, stop, wait_until_listening
from .service_user import as_service_user, give_to_service_user


@contextmanager
def pgbouncer(server: URL, *, server_connections: int) -> Iterator[URL]:
    """PgBouncer (transaction pooling, `server_connections` per database and user) in front
    of `server`; yields `server` with PgBouncer's host and port."""
    binary = find_program("pgbouncer", "pgbouncer", "this runs the app through a real PgBouncer")
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
        wait_until_listening(process, port, (directory / "pgbouncer.log").read_text)
        yield server.set(host="127.0.0.1", port=port)
    finally:
        stop(process)
        shutil.rmtree(directory, ignore_errors=True)
