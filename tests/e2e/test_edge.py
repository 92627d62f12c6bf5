"""The production entry: HAProxy with deploy/haproxy/haproxy.cfg in front of two API nodes
served as in production (gunicorn), over raw sockets where a client misbehaves.

The edge bounds what one client can make the service hold (MAX_HEADER_BYTES,
CLIENT_HEADER_TIMEOUT_SECONDS) before a node sees anything, and a node leaving the rotation
(SIGTERM: its drain) costs no request. `make stack-check` runs the whole topology under
load while its parts fail; these are the edge's own promises, each on its own.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devtools.local_servers.haproxy import Edge, edge, haproxy_binary
from devtools.local_servers.programs import MissingProgram
from tests.e2e.server import (
    PRODUCTION,
    RunningServer,
    serving_fresh_database,
    start_server,
    tree_cpu_seconds,
)
from tests.network import send_a_huge_header
from tests.postgres_server import PostgresServer
from tests.system_services import skip_unless_ci

pytestmark = pytest.mark.e2e
CLIENT_TIMEOUT = 1  # whole seconds: HAProxy's unit here
MAX_HEADER_BYTES = 65536
SLACK = 1.0  # scheduling on a busy 2-core machine
SLOW_CLIENTS = 100
DRAIN_SECONDS = 3  # longer than the edge takes to see /ready fail twice (2 × 1 s)


@dataclass
class Service:
    edge: Edge
    nodes: list[RunningServer]


def port_of(server: RunningServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def haproxy_installed() -> None:
    try:
        haproxy_binary()
    except MissingProgram as missing:
        skip_unless_ci(missing)


async def two_nodes_behind_the_edge(postgres: PostgresServer, logs: Path) -> AsyncIterator[Service]:
    environment = {**PRODUCTION, "SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS)}
    environment["TRUSTED_PROXIES"] = json.dumps(["127.0.0.1"])
    async with AsyncExitStack() as running:
        first, url = await running.enter_async_context(
            serving_fresh_database(postgres.url, logs / "node1.log", **environment)
        )
        # The database is migrated by then: the second node starts on it as it is.
        second = await start_server(
            url.render_as_string(hide_password=False), logs / "node2.log", **environment
        )
        running.push_async_callback(second.stop)
        nodes = {"node1": port_of(first), "node2": port_of(second)}
        front = running.enter_context(
            edge(
                nodes,
                max_header_bytes=MAX_HEADER_BYTES,
                client_header_timeout_seconds=CLIENT_TIMEOUT,
                directory=logs,
            )
        )
        yield Service(front, [first, second])


@pytest.fixture(scope="module")
async def service(
    haproxy_installed: None, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    async for running in two_nodes_behind_the_edge(postgres, tmp_path_factory.mktemp("edge")):
        yield running


async def connect(service: Service) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", service.edge.port)


async def until_closed(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """What the edge sent until it closed the connection, and after how long."""
    started = time.monotonic()
    received = b""
    async with asyncio.timeout(within):
        try:
            while chunk := await reader.read(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received, time.monotonic() - started


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


async def health_seconds(service: Service) -> float:
    async with httpx.AsyncClient(base_url=service.edge.url, timeout=10) as client:
        started = time.monotonic()
        assert (await client.get("/health")).status_code == 200
        return time.monotonic() - started


def nodes_cpu(service: Service) -> float:
    """CPU seconds the nodes (every process of each) have used so far."""
    return tree_cpu_seconds(*(node.process.pid for node in service.nodes))


async def test_a_head_over_max_header_bytes_is_431_with_the_envelope(service: Service) -> None:
    reader, writer = await connect(service)
    writer.write(
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
        + b"a" * (MAX_HEADER_BYTES + 100)
        + b"\r\n\r\n"
    )
    answer, _ = await until_closed(reader, 5)
    writer.close()

    head, _, body = answer.partition(b"\r\n\r\n")
    assert status_of(head) == 431
    assert json.loads(body)["error"]["code"] == "REQUEST_HEADERS_TOO_LARGE"


async def test_a_64_mb_header_is_cut_off_at_the_edge_costing_the_nodes_nothing(
    service: Service,
) -> None:
    cpu_before = nodes_cpu(service)
    sent = await send_a_huge_header(service.edge.port, 64)
    health = await health_seconds(service)

    assert sent < 16 * 1024 * 1024  # refused after its buffer (80 KiB), not read to the end
    assert health < 0.5
    assert nodes_cpu(service) - cpu_before < 0.2  # a /health, nothing of the header


async def test_slowloris_clients_are_answered_408_at_the_client_timeout(service: Service) -> None:
    connections = [await connect(service) for _ in range(SLOW_CLIENTS)]
    for _, writer in connections:
        writer.write(b"GET /health HTTP/1.1\r\n")

    async def trickle(writer: asyncio.StreamWriter) -> None:
        for _ in range(int((CLIENT_TIMEOUT + SLACK) * 5)):  # a byte every 0.2 s
            if writer.is_closing():
                return
            writer.write(b"X")
            await asyncio.sleep(0.2)

    trickling = [asyncio.create_task(trickle(writer)) for _, writer in connections]
    health = await health_seconds(service)
    answers = await asyncio.gather(
        *(until_closed(reader, CLIENT_TIMEOUT + SLACK) for reader, _ in connections)
    )
    for task in trickling:
        task.cancel()
    for _, writer in connections:
        writer.close()

    assert health < 0.5
    assert {status_of(answer) for answer, _ in answers} == {408}
    assert max(after for _, after in answers) < CLIENT_TIMEOUT + SLACK


async def test_silent_connections_and_stalled_bodies_never_reach_a_node(service: Service) -> None:
    silent = [await connect(service) for _ in range(10)]
    reader, writer = await connect(service)
    marker = f"stalled-{uuid.uuid4().hex}"
    writer.write(
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"X-Request-ID: {marker}\r\n".encode()
        + b'Content-Length: 100\r\n\r\n{"email": '
    )
    stalled, stalled_after = await until_closed(reader, CLIENT_TIMEOUT + SLACK)
    closed = await asyncio.gather(*(until_closed(r, CLIENT_TIMEOUT + SLACK) for r, _ in silent))
    for _, silent_writer in [*silent, (reader, writer)]:
        silent_writer.close()

    # The edge holds a body until it is whole (option http-buffer-request): a stalled one is
    # answered 408 there, and no node ever waits on it.
    assert status_of(stalled) == 408
    assert stalled_after < CLIENT_TIMEOUT + SLACK
    assert all(answer == b"" or status_of(answer) == 408 for answer, _ in closed)
    assert not any(marker in node.output() for node in service.nodes)


async def test_the_client_address_reaches_the_node_through_x_forwarded_for(
    service: Service,
) -> None:
    marker = f"forwarded-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=service.edge.url, timeout=10) as client:
        await client.get("/health", headers={"X-Request-ID": marker})
    [line] = [
        json.loads(line)
        for node in service.nodes
        for line in node.output().splitlines()
        if marker in line and '"app.access"' in line
    ]
    assert line["client"] == "127.0.0.1"  # the edge's X-Forwarded-For, believed from it


@pytest.fixture
async def stoppable(
    haproxy_installed: None, postgres: PostgresServer, tmp_path: Path
) -> AsyncIterator[Service]:
    async for running in two_nodes_behind_the_edge(postgres, tmp_path):
        yield running


async def test_a_node_stopped_under_load_costs_no_request(stoppable: Service) -> None:
    failures: list[str] = []
    statuses: list[int] = []
    stop_at = float("inf")

    async def steady(client: httpx.AsyncClient, number: int) -> None:
        sent = 0
        while time.monotonic() < stop_at:
            sent += 1
            try:
                if number % 2:
                    response = await client.get("/health")
                else:  # a write the edge may send again: it carries an Idempotency-Key
                    response = await client.post(
                        "/api/v1/auth/forgot-password",
                        json={"email": f"nobody-{number}-{sent}@example.com"},
                        headers={"Idempotency-Key": str(uuid.uuid4())},
                    )
                statuses.append(response.status_code)
            except httpx.TransportError as error:
                failures.append(repr(error))

    async with httpx.AsyncClient(base_url=stoppable.edge.url, timeout=30) as client:
        clients = [asyncio.create_task(steady(client, number)) for number in range(8)]
        await asyncio.sleep(1)
        exit_code = await stoppable.nodes[1].stop()
        stop_at = time.monotonic() + 1
        await asyncio.gather(*clients)

    assert exit_code == 0
    assert failures == []
    assert statuses and set(statuses) <= {200, 202}
    assert stoppable.edge.node_states() == {"node1": "UP", "node2": "DOWN"}
