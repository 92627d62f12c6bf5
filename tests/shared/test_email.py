"""The e-mail backends, against a real SMTP server on 127.0.0.1."""

import time

import aiosmtplib
import pytest
from pydantic import SecretStr

import shared.email
from devtools.local_servers.mailbox import Mailbox
from devtools.local_servers.ports import closed_port
from shared.email import SendEmail, SmtpEmailSender, make_email_sender
from shared.settings import Settings
from tests.network import silent_server


def smtp_settings(port: int) -> Settings:
    return Settings(
        _env_file=None,
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        email_from="modulith <noreply@example.com>",
    )


async def test_smtp_backend_delivers_the_message(mailbox: Mailbox) -> None:
    sender = make_email_sender(smtp_settings(mailbox.port))
    assert isinstance(sender, SmtpEmailSender)
    email = SendEmail(to="ada@example.com", subject="Hello", text="Hi Ada")
    await sender.send(email)
    [message] = mailbox.messages
    assert message["Message-ID"] == email.message_id
    assert (message["From"], message["To"], message["Subject"]) == (
        "modulith <noreply@example.com>",
        "ada@example.com",
        "Hello",
    )
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert body.decode().strip() == "Hi Ada"


async def test_a_refused_connection_raises_so_the_job_is_retried() -> None:
    sender = make_email_sender(smtp_settings(closed_port()))
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await sender.send(SendEmail(to="ada@example.com", subject="Hello", text="Hi"))


async def test_a_wedged_mail_server_is_given_up_on_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shared.email, "SMTP_TIMEOUT_SECONDS", 0.5)
    async with silent_server() as port:
        sender = SmtpEmailSender(smtp_settings(port))
        started = time.monotonic()
        with pytest.raises(aiosmtplib.SMTPTimeoutError):
            await sender.send(SendEmail(to="ada@example.com", subject="Hello", text="Hi"))
    assert time.monotonic() - started < 5  # bounded by the timeout, not hanging


def test_every_attempt_at_one_message_has_the_same_message_id() -> None:
    email = SendEmail(to="ada@example.com", subject="Hello", text="Hi")
    stored = SendEmail.model_validate_json(email.model_dump_json())
    assert stored.message_id == email.message_id
    assert (
        SendEmail(to="ada@example.com", subject="Hello", text="Hi").message_id != email.message_id
    )


def test_console_is_the_default_backend() -> None:
    assert type(make_email_sender(Settings(_env_file=None))).__name__ == "ConsoleEmailSender"


def test_smtp_password_is_a_secret() -> None:
    settings = Settings(
        _env_file=None, email_backend="smtp", smtp_host="mail.local", smtp_password="hunter22"
    )
    assert isinstance(settings.smtp_password, SecretStr)
    assert "hunter22" not in repr(settings)
