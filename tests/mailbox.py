"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives."""

import email
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Mailbox:
    port: int
    messages: list[Message]

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]

    def token_sent_to(self, address: str, page: str) -> str:
        """The token in the last link to `page` mailed to `address`."""
        [*_, message] = self.to(address)
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        found = re.search(rf"/{page}\?token=([^\s]+)", body.decode())
        assert found, body
        return found.group(1)


class _Keep:
    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    mailbox = Mailbox(port=_free_port(), messages=[])
    controller = Controller(_Keep(mailbox.messages), hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
