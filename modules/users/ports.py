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
    """Mails the account links, as jobs in the caller's transaction."""

    async def send_password_reset(self, session: AsyncSession, user: User, token: str) -> None: ...

    async def send_verification(self, session: AsyncSession, user: User, token: str) -> None: ...


class TwoFactorSwitch(Protocol):
    async def turn_off(self, session: AsyncSession, user_id: uuid.UUID) -> None:
        """Forget the user's second factor (secret, recovery codes, pending logins)."""
