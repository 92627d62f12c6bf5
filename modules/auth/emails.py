"""The account e-mails: links to FRONTEND_URL with a token (password reset, verification),
and alerts to the account's address when its password, e-mail or second factor changes.

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

    async def send_password_changed(self, session: AsyncSession, user: User) -> None:
        await self._alert(session, user.email, "Your password was changed")

    async def send_email_changed(self, session: AsyncSession, user: User, old_email: str) -> None:
        await self._alert(
            session, old_email, "Your e-mail address was changed", f"It is now {user.email}."
        )

    async def send_two_factor_changed(
        self, session: AsyncSession, user: User, *, enabled: bool
    ) -> None:
        state = "on" if enabled else "off"
        await self._alert(session, user.email, f"Two-factor login was turned {state}")

    async def send_api_key_created(self, session: AsyncSession, user: User, name: str) -> None:
        await self._alert(session, user.email, "An API key was created", f'It is named "{name}".')

    async def _alert(self, session: AsyncSession, to: str, subject: str, detail: str = "") -> None:
        text = f"{subject} just now. {detail}".rstrip()
        await self.jobs.enqueue(
            session,
            SendEmail(
                to=to,
                subject=subject,
                text=f"{text}\n\nIf this was not you, reset your password at once and review "
                f"your sessions: {self.frontend}/reset-password",
            ),
        )
