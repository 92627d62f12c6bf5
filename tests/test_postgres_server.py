"""The test database provider picks the server the README's "Tests" section names, in that
order."""

import socket

import pytest

from devtools.local_servers.ports import closed_port
from tests.postgres_server import NoPostgresAvailable, postgres_server

# A Docker endpoint that cannot answer: a socket path that does not exist.
NO_DOCKER = "unix:///nonexistent/modulith-test/docker.sock"


def test_test_database_url_wins_when_set() -> None:
    url = "postgresql+asyncpg://someone@db.example:5432/postgres"
    with postgres_server({"TEST_DATABASE_URL": url}) as server:
        assert (server.url, server.source) == (url, "TEST_DATABASE_URL")


def test_without_docker_the_local_server_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        local = f"postgresql+asyncpg://postgres@127.0.0.1:{listener.getsockname()[1]}/postgres"
        with postgres_server({}, local) as server:
            assert server.url == local
            assert server.source == "local server 127.0.0.1"


def test_with_nothing_reachable_the_error_names_all_three_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    unreachable = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/postgres"
    with pytest.raises(NoPostgresAvailable) as raised, postgres_server({}, unreachable):
        pass
    message = str(raised.value)
    assert "TEST_DATABASE_URL" in message
    assert "Docker" in message and "testcontainers" in message
    assert unreachable in message
