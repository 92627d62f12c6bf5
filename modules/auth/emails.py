"""The account e-mails (password reset, verification): links to FRONTEND_URL with the token.

Each is an `email.send` job written in the caller's transaction: it goes out if and only if
the request commits.
"""

from urllib.parse import urlencode

from sqlmodel.ext.asyncio.session import AsyncSession

from modules.users.public import User
from shared.email import SendEmail
from shared.jobs.queue import JobQueue
from shared.settings import Settings


class AccountEmails:
    def __init__(self, settings: Settings, jobs: JobQueue) -> None:
        self.frontend = str(settings.frontend_url).rstrip("/")
        self.jobs = jobs

    def _link(self, page: str, token: str) -> str:
        return f"{self.frontend}/{page}?{urlencode({'token': token})}"

    async def send_password_reset(self, session: AsyncSession, user: User, token: str) -> None:
        link = self._link("reset-password", token)
        await self.jobs.enqueue(
            session,
            SendEmail(
                to=user.email,
                subject="Reset your password",
                text=f"To choose a new password, open {link}\n\n"
                "If you did not ask for this, ignore this message.",
            ),
        )

    async def send_verification(self, session: AsyncSession, user: User, token: str) -> None:
        link = self._link("verify", token)
        await self.jobs.enqueue(
            session,
            SendEmail(
                to=user.email,
                subject="Verify your e-mail address",
                text=f"To confirm this address, open {link}",
            ),
        )
