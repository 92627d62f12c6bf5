"""The users module's `PasswordAttempts` port: a check of an account's password outside the
login form (`PATCH /users/me`, `/2fa/disable`, `/auth/reauth`) counts in the same login
throttle, with the same delays."""

from sqlmodel.ext.asyncio.session import AsyncSession

from modules.users.public import User

from .errors import LoginThrottled
from .throttle import LoginThrottles


class PasswordAttempts:
    def __init__(self, throttles: LoginThrottles) -> None:
        self.throttles = throttles

    async def begin(self, session: AsyncSession, user: User) -> None:
        wait = await self.throttles.begin_attempt(session, user.email)
        if wait is not None:
            raise LoginThrottled(headers={"Retry-After": str(wait)})

    async def succeeded(self, session: AsyncSession, user: User) -> None:
        await self.throttles.clear(session, user.email)
