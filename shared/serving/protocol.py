"""uvicorn's httptools protocol with the two bounds it lacks (uvicorn has them for h11 only,
and no timeout for a request in progress at all):

- a request's head (request line and headers) larger than MAX_HEADER_BYTES is answered 431
  and the connection closed, as soon as that many bytes have come, before they are parsed:
  one 64 MB header cost 4 s of CPU, a 128 MB one 23 s and 193 MB of memory;
- a client has CLIENT_HEADER_TIMEOUT_SECONDS to send a request's head (a silent connection
  as much to send its first byte), and may not pause longer than that inside a body; it is
  answered 408 (or, having sent nothing, just closed).

When the server stops, a connection accepted just before the listener closed gets its
first request answered instead of being closed unanswered.

The common request costs a `bytes.find` over its first chunk and two callbacks; timers are
armed only for heads that straddle chunks and bodies that are still coming.
"""

import asyncio
import json
import uuid
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .config import ServerConfig

logger = structlog.get_logger("server")
HEAD_END = b"\r\n\r\n"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, config: ServerConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.max_head_bytes = config.max_header_bytes
        self.client_timeout = config.client_timeout
        self.head_bytes = 0  # of the head being received
        self.in_head = True  # between requests, or receiving a head
        self.in_body = False  # a body is still coming
        self.tail = b""  # the last bytes of a head chunk: the end marker may straddle two
        self.timer: asyncio.TimerHandle | None = None
        self.last_request = False  # the server is stopping: close after the next answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()  # a connection that sends nothing is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.in_head:
            end = (self.tail + data).find(HEAD_END)
            self.head_bytes += len(data) if end < 0 else end + len(HEAD_END) - len(self.tail)
            if self.head_bytes > self.max_head_bytes:
                self._refuse(431, "REQUEST_HEADERS_TOO_LARGE", "Request headers are too large")
                return
            self.tail = data[-3:]
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self.in_body:
            self._arm()  # no pause longer than the timeout inside a body
        elif self.head_bytes and self.timer is None:
            self._arm()  # the head must be whole within the timeout of its first byte

    def on_headers_complete(self) -> None:
        self.in_head, self.in_body = False, True
        super().on_headers_complete()
        if self.last_request and self.cycle is not None:
            self.cycle.keep_alive = False

    def shutdown(self) -> None:
        if self.cycle is None and not self.transport.is_closing():
            # Accepted just before the listener closed, its first request not read yet:
            # uvicorn would close it unanswered. Serve that request, then close; the client
            # timeout still ends a connection that sends nothing.
            self.last_request = True
            return
        super().shutdown()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.in_head, self.in_body = True, False
        self.head_bytes, self.tail = 0, b""
        self._disarm()

    def _arm(self) -> None:
        self._disarm()
        self.timer = self.loop.call_later(self.client_timeout, self._client_too_slow)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _client_too_slow(self) -> None:
        self.timer = None
        if self.transport.is_closing():
            return
        if self.in_body and self.flow.read_paused:  # the app is behind, not the client
            self._arm()
            return
        if self.in_head and self.head_bytes == 0:
            self.transport.close()  # connected and said nothing
            return
        logger.info("client_too_slow", client=self.client, seconds=self.client_timeout)
        if self.in_body:  # the app is reading the body: it sees the client disconnect
            self.transport.close()
            return
        self._refuse(408, "REQUEST_TIMEOUT", "The request was not received in time")

    def _refuse(self, status: int, code: str, detail: str) -> None:
        """Answer with the error envelope and close, before the app has seen the request."""
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a pipelined request's answer is still being written
            return
        envelope = {"error": {"code": code, "detail": detail, "request_id": str(uuid.uuid4())}}
        body = json.dumps(envelope).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()
