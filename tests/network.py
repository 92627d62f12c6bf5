"""Local stand-ins for broken dependencies. Everything listens on 127.0.0.1 only."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from devtools.local_servers.ports import closed_port

HEADER_PIECE_BYTES = 65536


async def send_a_huge_header(
    port: int, megabytes: int, *, once_sending: Callable[[], object] | None = None
) -> int:
    """A request head to 127.0.0.1:`port` whose one header grows to `megabytes` MB, a piece
    of 64 KiB at a time, until the server cuts the connection; how many bytes went.
    `once_sending` is called after the first 512 KiB, the server busy with the header."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:
        for piece in range(megabytes * 1024 * 1024 // HEADER_PIECE_BYTES):
            if piece == 8 and once_sending is not None:
                once_sending()
            writer.write(b"a" * HEADER_PIECE_BYTES)
            await writer.drain()
            sent += HEADER_PIECE_BYTES
    except ConnectionError:
        pass
    writer.close()
    return sent


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never says a word: a wedged server. Yields its port."""
    connections: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_port`. `cut()` drops every connection and refuses
    new ones, as a restarting server does; `restore()` listens again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = closed_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()


@asynccontextmanager
async def tcp_proxy(target_port: int) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(target_port)
    await proxy.restore()
    try:
        yield proxy
    finally:
        await proxy.cut()
