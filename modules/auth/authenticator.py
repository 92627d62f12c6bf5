"""Who is calling: the access token's user, if their session is live and they are active.

One query does it all (user joined with session), so a logout, a password reset or a
deactivation stops the user's access tokens at once, at no extra round trip. The user is
loaded in the request's session: a route that changes the account uses it as it is.
"""

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from modules.users.public import User
from shared.api.auth import Caller

from .models import AuthSession
from .tokens import AccessTokens


class SessionTokenAuthenticator:
    def __init__(self, access_tokens: AccessTokens) -> None:
        self.access_tokens = access_tokens

    async def __call__(self, session: AsyncSession, token: str) -> Caller | None:
        claims = self.access_tokens.read(token)
        if claims is None:
            return None
        statement = (
            select(User, AuthSession.authenticated_at)
            .join(AuthSession, col(AuthSession.user_id) == col(User.id))
            .where(
                col(User.id) == claims.user_id,
                col(User.is_active),
                col(AuthSession.id) == claims.session_id,
                col(AuthSession.revoked_at).is_(None),
                col(AuthSession.expires_at) > func.now(),
            )
        )
        found = (await session.exec(statement)).first()
        if found is None:
            return None
        user, authenticated_at = found
        return Caller(account=user, session_id=claims.session_id, authenticated_at=authenticated_at)
