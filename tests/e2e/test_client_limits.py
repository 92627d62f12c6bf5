"""Bounds on what one client can make the server hold (MAX_HEADER_BYTES,
CLIENT_HEADER_TIMEOUT_SECONDS, KEEPALIVE_TIMEOUT_SECONDS), on the real server, over raw
sockets: an oversized head, a slowloris client, silent sockets, a stalled body."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import RunningServer, cpu_seconds, serving_fresh_database
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e
CLIENT_TIMEOUT = 1.0
KEEPALIVE = 2
SLACK = 1.0  # scheduling on a busy 2-core machine
SLOW_CLIENTS = 100


@pytest.fixture(scope="module")
async def server(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServer]:
    async with serving_fresh_database(
        postgres.url,
        tmp_path_factory.mktemp("limits") / "server.log",
        CLIENT_HEADER_TIMEOUT_SECONDS=str(CLIENT_TIMEOUT),
        KEEPALIVE_TIMEOUT_SECONDS=str(KEEPALIVE),
    ) as (running, _):
        yield running


async def connect(server: RunningServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]))


async def until_closed(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """What the server sent until it closed the connection, and after how long."""
    started = time.monotonic()
    received = b""
    async with asyncio.timeout(within):
        try:
            while chunk := await reader.read(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received, time.monotonic() - started


def envelope(raw: bytes) -> tuple[int, str]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)["error"]["code"]


def resident_kib(pid: int) -> int:
    """A process's resident memory, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))


async def health_seconds(server: RunningServer) -> float:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        started = time.monotonic()
        assert (await client.get("/health")).status_code == 200
        return time.monotonic() - started


async def test_a_head_over_max_header_bytes_is_431_with_the_envelope(
    server: RunningServer,
) -> None:
    reader, writer = await connect(server)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    answer, _ = await until_closed(reader, 5)
    assert envelope(answer) == (431, "REQUEST_HEADERS_TOO_LARGE")
    writer.close()


async def test_a_64_mb_header_is_cut_off_early_costing_little_while_health_stays_fast(
    server: RunningServer,
) -> None:
    pid = server.process.pid
    cpu_before, rss_before = cpu_seconds(pid), resident_kib(pid)
    _, writer = await connect(server)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:
        for _ in range(1024):  # 64 MB in 64 KiB pieces, unless the server stops it
            writer.write(b"a" * 65536)
            await writer.drain()
            sent += 65536
    except ConnectionError:
        pass
    health = await health_seconds(server)
    cpu_after, rss_after = cpu_seconds(pid), resident_kib(pid)
    writer.close()

    assert sent < 16 * 1024 * 1024  # refused after the first 64 KiB, not read to the end
    assert health < 0.5
    assert cpu_after - cpu_before < 0.5
    assert rss_after - rss_before < 16 * 1024


async def test_slowloris_clients_are_cut_off_after_the_header_timeout(
    server: RunningServer,
) -> None:
    connections = [await connect(server) for _ in range(SLOW_CLIENTS)]
    for _, writer in connections:
        writer.write(b"GET /health HTTP/1.1\r\n")

    async def trickle(writer: asyncio.StreamWriter) -> None:
        for _ in range(int((CLIENT_TIMEOUT + SLACK) * 5)):  # a byte every 0.2 s
            if writer.is_closing():
                return
            writer.write(b"X")
            await asyncio.sleep(0.2)

    trickling = [asyncio.create_task(trickle(writer)) for _, writer in connections]
    health = await health_seconds(server)
    answers = await asyncio.gather(
        *(until_closed(reader, CLIENT_TIMEOUT + SLACK) for reader, _ in connections)
    )
    for task in trickling:
        task.cancel()
    for _, writer in connections:
        writer.close()

    assert health < 0.5
    assert {envelope(answer) for answer, _ in answers} == {(408, "REQUEST_TIMEOUT")}
    assert max(after for _, after in answers) < CLIENT_TIMEOUT + SLACK


async def test_silent_connections_and_stalled_bodies_are_closed_after_the_timeout(
    server: RunningServer,
) -> None:
    silent = [await connect(server) for _ in range(10)]
    reader, writer = await connect(server)
    writer.write(
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"email": '
    )
    stalled = await until_closed(reader, CLIENT_TIMEOUT + SLACK)
    closed = await asyncio.gather(*(until_closed(r, CLIENT_TIMEOUT + SLACK) for r, _ in silent))
    for _, silent_writer in [*silent, (reader, writer)]:
        silent_writer.close()

    assert stalled[0] == b""  # the app saw the client go; nothing half-written
    assert [answer for answer, _ in closed] == [b""] * len(silent)


async def test_an_idle_keep_alive_connection_lives_keepalive_timeout_seconds(
    server: RunningServer,
) -> None:
    reader, writer = await connect(server)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    first = await reader.readuntil(b'{"status":"ok"}')
    _, idle_for = await until_closed(reader, KEEPALIVE + SLACK)
    writer.close()

    assert first.startswith(b"HTTP/1.1 200")
    # Not the header timeout (1 s): an idle connection between requests is the keep-alive's.
    assert KEEPALIVE - 0.3 < idle_for < KEEPALIVE + SLACK
