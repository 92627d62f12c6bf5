"""Which PostgreSQL server the suite runs against (README, "Tests").

1. TEST_DATABASE_URL, if set.
2. Else a throwaway postgres:16-alpine from testcontainers, if a Docker engine answers.
3. Else the local server at FALLBACK_SERVER_URL, if it answers.
4. Else NoPostgresAvailable, whose message names these three options.
"""

import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import make_url

FALLBACK_SERVER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
POSTGRES_IMAGE = "postgres:16-alpine"
PROBE_TIMEOUT_SECONDS = 3.0


class NoPostgresAvailable(RuntimeError):
    pass


@dataclass(frozen=True)
class PostgresServer:
    url: str  # a maintenance database on the server; the suite creates its own beside it
    source: str  # which of the options it came from, for the test report header


def docker_answers() -> bool:
    """True when a Docker engine (DOCKER_HOST or the default socket) answers a ping."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=int(PROBE_TIMEOUT_SECONDS))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (DockerException, OSError):
        return False


def server_answers(url: str) -> bool:
    parsed = make_url(url)
    try:
        with socket.create_connection(
            (parsed.host or "127.0.0.1", parsed.port or 5432), timeout=PROBE_TIMEOUT_SECONDS
        ):
            return True
    except OSError:
        return False


@contextmanager
def postgres_server(
    environ: Mapping[str, str], fallback_url: str = FALLBACK_SERVER_URL
) -> Iterator[PostgresServer]:
    if url := environ.get("TEST_DATABASE_URL"):
        yield PostgresServer(url, "TEST_DATABASE_URL")
        return
    if docker_answers():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver="asyncpg") as container:
            yield PostgresServer(container.get_connection_url(), f"testcontainers {POSTGRES_IMAGE}")
        return
    if server_answers(fallback_url):
        yield PostgresServer(fallback_url, f"local server {make_url(fallback_url).host}")
        return
    raise NoPostgresAvailable(
        "No PostgreSQL for the tests. Either set TEST_DATABASE_URL to a server "
        "(postgresql+asyncpg://user:password@host:5432/postgres), or start a Docker engine "
        f"(testcontainers runs {POSTGRES_IMAGE}), or run a server at {fallback_url}."
    )
