"""What the users module needs from others, declared here and bound by the root container
(the auth module implements them; users never imports it)."""

import uuid
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from .models import User


class SessionRevoker(Protocol):
    async def revoke_all(
        self, session: AsyncSession, user_id: uuid.UUID, *, keep: uuid.UUID | None = None
    ) -> None:
        """End every login session of the user (but `keep`), in the caller's transaction."""


class AccountMailer(Protocol):
    """Mails the account links and alerts, as jobs in the caller's transaction."""

    async def send_password_reset(self, session: AsyncSession, user: User, token: str) -> None: ...

    async def send_verification(self, session: AsyncSession, user: User, token: str) -> None: ...

    async def send_password_changed(self, session: AsyncSession, user: User) -> None: ...

    async def send_email_changed(self, session: AsyncSession, user: User, old_email: str) -> None:
        """Told to the old address, which may be the owner's last way to notice."""

    async def send_two_factor_changed(
        self, session: AsyncSession, user: User, *, enabled: bool
    ) -> None: ...


class TwoFactorSwitch(Protocol):
    async def turn_off(self, session: AsyncSession, user_id: uuid.UUID) -> None:
        """Forget the user's second factor (secret, recovery codes, pending logins)."""


class PasswordAttempts(Protocol):
    """The account's login throttle, which every check of its password counts in."""

    async def begin(self, session: AsyncSession, user: User) -> None:
        """Counts a check of the user's password before it is made, committing the caller's
        transaction so far; raises `429 LOGIN_THROTTLED` while the account is delayed."""

    async def succeeded(self, session: AsyncSession, user: User) -> None:
        """The whole proof passed: the account's count is cleared."""
