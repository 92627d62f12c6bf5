"""A PostgreSQL server of the caller's own, which it may restart, crash or starve of
connections without touching any other server (the suite's, the machine's).

Built from the PostgreSQL server binaries on the machine (Debian: /usr/lib/postgresql/<n>/bin;
`.ci/run` runs where they are). A cluster is initialised in a temporary directory and listens
on 127.0.0.1 only, on a free port. PostgreSQL refuses to run as root: as root, the commands
run as the `postgres` system user.
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import URL

from .ports import closed_port
from .service_user import as_service_user, give_to_service_user

COMMAND_TIMEOUT_SECONDS = 60


class NoServerBinaries(RuntimeError):
    pass


def server_binaries() -> Path:
    """The directory holding initdb and pg_ctl: PG_BINDIR, else PATH, else Debian's layout."""
    if configured := os.environ.get("PG_BINDIR"):
        return Path(configured)
    if on_path := shutil.which("initdb"):
        return Path(on_path).resolve().parent  # Debian links initdb alone onto PATH
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if debian:
        return debian[-1].parent
    raise NoServerBinaries(
        "these tests start a PostgreSQL server of their own and found no initdb: install "
        "PostgreSQL's server package (Debian: postgresql) or set PG_BINDIR to its bin directory"
    )


class PrivatePostgres:
    def __init__(
        self, directory: Path, bindir: Path, settings: dict[str, str], password: str | None
    ) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.bindir = bindir
        self.port = closed_port()
        self.settings = settings
        self.password = password  # None: trust authentication

    def run(self, *command: str) -> None:
        """One of its programs (pg_ctl, pg_basebackup, ...) as the service user, to its end."""
        result = subprocess.run(
            as_service_user(list(command)),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")

    def url(self, database: str = "postgres") -> URL:
        return URL.create(
            "postgresql+asyncpg",
            "postgres",
            self.password,
            host="127.0.0.1",
            port=self.port,
            database=database,
        )

    def initdb(self) -> None:
        authentication = ["--auth=trust"]
        if self.password is not None:
            password_file = self.directory / "password"
            password_file.write_text(self.password)
            give_to_service_user(password_file)
            authentication = ["--auth=scram-sha-256", f"--pwfile={password_file}"]
        self.run(
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.data),
            "--username=postgres",
            *authentication,
            "--no-sync",  # a throwaway cluster: no fsync while creating it
        )

    def start(self) -> None:
        options = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.directory),
            **self.settings,
        }
        self.run(
            str(self.bindir / "pg_ctl"),
            "start",
            "--wait",
            "--pgdata",
            str(self.data),
            "--log",
            str(self.directory / "server.log"),
            "-o",
            " ".join(f"-c {name}={value}" for name, value in options.items()),
        )

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """`immediate` is a crash: no checkpoint, every backend killed, recovery at start."""
        self.run(str(self.bindir / "pg_ctl"), "stop", "--wait", "-m", mode, "-D", str(self.data))

    def restart(self) -> None:
        """What `pg_ctl restart -m fast` does: sessions ended, the server back at once."""
        self.stop("fast")
        self.start()


@contextmanager
def private_postgres(password: str | None = None, **settings: str) -> Iterator[PrivatePostgres]:
    """A fresh, running cluster (`settings` as postgresql.conf parameters), removed after;
    with `password`, the postgres user needs it (SCRAM) instead of being trusted."""
    bindir = server_binaries()
    directory = Path(tempfile.mkdtemp(prefix="modulith-pg-"))
    try:
        give_to_service_user(directory)
        server = PrivatePostgres(directory, bindir, settings, password)
        server.initdb()
        server.start()
        try:
            yield server
        finally:
            with suppress(RuntimeError):  # already stopped by the test
                server.stop("immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def streaming_replica(primary: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """A hot standby of `primary` (trust authentication only), streaming its WAL from a base
    backup (`pg_basebackup --write-recovery-conf`); removed after."""
    directory = Path(tempfile.mkdtemp(prefix="modulith-pg-replica-"))
    try:
        give_to_service_user(directory)
        replica = PrivatePostgres(directory, primary.bindir, primary.settings, None)
        replica.run(
            str(primary.bindir / "pg_basebackup"),
            "--host=127.0.0.1",
            f"--port={primary.port}",
            "--username=postgres",
            f"--pgdata={replica.data}",
            "--wal-method=stream",
            "--write-recovery-conf",  # standby.signal and primary_conninfo: a standby
            "--checkpoint=fast",
            "--no-sync",
        )
        replica.start()
        try:
            yield replica
        finally:
            with suppress(RuntimeError):
                replica.stop("immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
