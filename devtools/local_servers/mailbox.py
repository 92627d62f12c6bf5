"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives: the mail server of
the tests, of the fault run and of `make stack`."""

import asyncio
import email
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from .ports import closed_port


@dataclass
class Mailbox:
    port: int
    messages: list[Message]
    # Seconds the server waits before accepting each message (a slow mail server).
    delay: float = 0.0
    # Messages whose DATA has begun (delivered or not): the server is busy with them.
    started: int = 0

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]

    async def wait_for(self, count: int, within: float = 10.0) -> list[Message]:
        """Wait until at least `count` messages have arrived; all of them."""
        deadline = time.monotonic() + within
        while len(self.messages) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(f"{len(self.messages)} of {count} messages")
            await asyncio.sleep(0.05)
        return list(self.messages)

    def token_sent_to(self, address: str, page: str) -> str:
        """The token in the last link to `page` mailed to `address`."""
        [*_, message] = self.to(address)
        body = message.get_payload(decode=True)
        found = isinstance(body, bytes) and re.search(rf"/{page}\?token=([^\s]+)", body.decode())
        if not found:
            raise AssertionError(f"no link to /{page} in: {body!r}")
        return found.group(1)


class _Keep:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mailbox.started += 1
        if self.mailbox.delay:
            await asyncio.sleep(self.mailbox.delay)
        self.mailbox.messages.append(email.message_from_bytes(envelope.original_content))
        return "250 OK"


@contextmanager
def smtp_server(port: int | None = None, delay: float = 0.0) -> Iterator[Mailbox]:
    """On `port` (default: a free one); `delay` seconds before each message is accepted."""
    mailbox = Mailbox(port=port or closed_port(), messages=[], delay=delay)
    controller = Controller(_Keep(mailbox), hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
