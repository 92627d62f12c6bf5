"""Outgoing e-mail: the `email.send` job, and a sender with a `console` and an `smtp` backend
(EMAIL_BACKEND).

A module asks for a message with `await jobs.enqueue(session, SendEmail(...))` in its own
transaction: the message goes out after the commit, from a worker, retried with back-off while
the mail server is down. A slow or failing mail server never delays or fails the request, and
never tells a caller whether an account exists.
"""

import uuid
from email.message import EmailMessage as MimeMessage
from email.utils import make_msgid
from typing import Protocol

import aiosmtplib
import structlog
from pydantic import Field
from sqlmodel.ext.asyncio.session import AsyncSession

from .jobs.messages import Job
from .settings import Settings

SMTP_TIMEOUT_SECONDS = 10.0
logger = structlog.get_logger("app.email")


class SendEmail(Job, name="email.send"):
    to: str
    subject: str
    text: str
    # Chosen when the job is made, so every attempt sends the same Message-ID.
    message_id: str = Field(default_factory=lambda: make_msgid(uuid.uuid4().hex, "modulith"))


class EmailSender(Protocol):
    async def send(self, message: SendEmail) -> None: ...


class ConsoleEmailSender:
    """Development backend: the message goes to the log instead of a mailbox."""

    async def send(self, message: SendEmail) -> None:
        logger.info("email", to=message.to, subject=message.subject, text=message.text)


class SmtpEmailSender:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: SendEmail) -> None:
        mime = MimeMessage()
        mime["From"] = self.settings.email_from
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Message-ID"] = message.message_id
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


class EmailDelivery:
    """The handler of `email.send`."""

    def __init__(self, sender: EmailSender) -> None:
        self.sender = sender

    async def send_email(self, session: AsyncSession, message: SendEmail) -> None:
        """Hands the message to the mail server; a failure raises, and the job is retried.

        Idempotent as far as SMTP allows: if a worker dies after the server took the message
        but before the job was marked done, the retry sends it again with the same
        Message-ID, by which mail stores and clients recognise a duplicate.
        """
        await self.sender.send(message)
        logger.info("email_sent", to=message.to, subject=message.subject)
