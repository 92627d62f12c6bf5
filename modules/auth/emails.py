"""The account e-mails (password reset, verification): links to FRONTEND_URL with the token."""

from urllib.parse import urlencode

from modules.users.public import User
from shared.email import EmailMessage, EmailOutbox
from shared.settings import Settings


class AccountEmails:
    def __init__(self, settings: Settings, outbox: EmailOutbox) -> None:
        self.frontend = str(settings.frontend_url).rstrip("/")
        self.outbox = outbox

    def _link(self, page: str, token: str) -> str:
        return f"{self.frontend}/{page}?{urlencode({'token': token})}"

    def send_password_reset(self, user: User, token: str) -> None:
        link = self._link("reset-password", token)
        self.outbox.send_later(
            EmailMessage(
                to=user.email,
                subject="Reset your password",
                text=f"To choose a new password, open {link}\n\n"
                "If you did not ask for this, ignore this message.",
            )
        )

    def send_verification(self, user: User, token: str) -> None:
        link = self._link("verify", token)
        self.outbox.send_later(
            EmailMessage(
                to=user.email,
                subject="Verify your e-mail address",
                text=f"To confirm this address, open {link}",
            )
        )
