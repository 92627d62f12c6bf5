"""Outgoing e-mail: a sender port with a `console` and an `smtp` backend (EMAIL_BACKEND).

Messages go out in the background (`EmailOutbox.send_later`): a slow or failing mail server
never delays or fails the request that caused the message, and never tells a caller whether
an account exists.
"""

import asyncio
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage
from typing import Protocol

import aiosmtplib
import structlog

from .settings import Settings

SMTP_TIMEOUT_SECONDS = 10.0
logger = structlog.get_logger("app.email")


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    text: str


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class ConsoleEmailSender:
    """Development backend: the message goes to the log instead of a mailbox."""

    async def send(self, message: EmailMessage) -> None:
        logger.info("email", to=message.to, subject=message.subject, text=message.text)


class SmtpEmailSender:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> None:
        mime = MimeMessage()
        mime["From"] = self.settings.email_from
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime.set_content(message.text)
        password = self.settings.smtp_password
        await aiosmtplib.send(
            mime,
            hostname=self.settings.smtp_host,
            port=self.settings.smtp_port,
            username=self.settings.smtp_username,
            password=password.get_secret_value() if password else None,
            start_tls=self.settings.smtp_starttls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )


def make_email_sender(settings: Settings) -> EmailSender:
    return SmtpEmailSender(settings) if settings.email_backend == "smtp" else ConsoleEmailSender()


class EmailOutbox:
    """Sends messages in background tasks it keeps track of (and waits for at shutdown)."""

    def __init__(self, sender: EmailSender) -> None:
        self.sender = sender
        self._pending: set[asyncio.Task[None]] = set()

    def send_later(self, message: EmailMessage) -> None:
        task = asyncio.create_task(self._deliver(message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, message: EmailMessage) -> None:
        try:
            await self.sender.send(message)
        except Exception as error:  # the request is long answered: log, never raise
            logger.error("email_failed", to=message.to, subject=message.subject, error=repr(error))
        else:
            logger.info("email_sent", to=message.to, subject=message.subject)

    async def drain(self) -> None:
        """Wait for the messages under way (at shutdown, and in tests); each is bounded by
        the SMTP timeout."""
        if self._pending:
            await asyncio.wait(set(self._pending))
