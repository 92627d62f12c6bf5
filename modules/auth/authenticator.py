"""Who is calling: the access token's user, if their session is live and they are active.

One query does it all (user joined with session), so a logout, a password reset or a
deactivation stops the user's access tokens at once, at no extra round trip.
"""

from sqlalchemy import bindparam, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from modules.users.public import User, UserRow
from shared.auth import Identity
from shared.fast_path import FastStatement

from .models import AuthSession
from .tokens import AccessTokens

# Every authenticated request runs this: compiled once, run on the kernel's fast path.
_LIVE_SESSION_USER = FastStatement(
    select(User)
    .join(AuthSession, col(AuthSession.user_id) == col(User.id))
    .where(
        col(User.id) == bindparam("user_id"),
        col(User.is_active),
        col(AuthSession.id) == bindparam("session_id"),
        col(AuthSession.revoked_at).is_(None),
        col(AuthSession.expires_at) > func.now(),
    ),
    into=UserRow,
)


class SessionTokenAuthenticator:
    def __init__(self, access_tokens: AccessTokens) -> None:
        self.access_tokens = access_tokens

    async def __call__(self, session: AsyncSession, token: str) -> Identity | None:
        claims = self.access_tokens.read(token)
        if claims is None:
            return None
        user = await _LIVE_SESSION_USER.row(
            session, user_id=claims.user_id, session_id=claims.session_id
        )
        return Identity(user=user, session_id=claims.session_id) if user else None
