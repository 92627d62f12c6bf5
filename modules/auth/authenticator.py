"""Who is calling: the owner of an access token's live session, or of a live API key.

One query does it all, either way: the user joined with the session (or the key), and the
permissions of the user's roles as a correlated subquery. So a logout, a password reset, a
deactivation, a revoked key or a role taken away stops the caller at once, at no extra round
trip. The user is loaded in the request's session: a route that changes the account uses it
as it is.
"""

import uuid
from datetime import datetime

from sqlalchemy import bindparam, func
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from modules.users.public import User, role_permissions_of
from shared.api.auth import Caller
from shared.api.permissions import PermissionCatalog
from shared.data.db import utcnow
from shared.data.replica import is_replica_session

from .api_keys import LAST_USED_PRECISION, ApiKeys, ApiKeySecrets, key_hash, looks_like_api_key
from .models import ApiKey, AuthSession
from .tokens import AccessTokens

# Built once: a statement is immutable, and building this one (a join and a correlated
# subquery) costs more than its cached compiled form saves. The values are bound per request.
BY_ACCESS_TOKEN = (
    select(User, AuthSession.authenticated_at, role_permissions_of(User.id))
    .join(AuthSession, col(AuthSession.user_id) == col(User.id))
    .where(
        col(User.id) == bindparam("user_id"),
        col(User.is_active),
        col(AuthSession.id) == bindparam("session_id"),
        col(AuthSession.revoked_at).is_(None),
        col(AuthSession.expires_at) > func.now(),
    )
)
BY_API_KEY = (
    select(User, ApiKey, role_permissions_of(User.id))
    .join(ApiKey, col(ApiKey.user_id) == col(User.id))
    .where(
        col(ApiKey.key_hash) == bindparam("key_hash"),
        col(ApiKey.revoked_at).is_(None),
        col(ApiKey.expires_at) > func.now(),
        col(User.is_active),
    )
)


class BearerAuthenticator:
    def __init__(
        self,
        access_tokens: AccessTokens,
        catalog: PermissionCatalog,
        primary_sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        self.access_tokens = access_tokens
        self.catalog = catalog
        self.primary_sessions = primary_sessions

    async def __call__(self, session: AsyncSession, token: str) -> Caller | None:
        if looks_like_api_key(token):
            return await self._by_api_key(session, token)
        return await self._by_access_token(session, token)

    async def _by_access_token(self, session: AsyncSession, token: str) -> Caller | None:
        claims = self.access_tokens.read(token)
        if claims is None:
            return None
        params = {"user_id": claims.user_id, "session_id": claims.session_id}
        found = (await session.exec(BY_ACCESS_TOKEN, params=params)).first()
        if found is None:
            return None
        user, authenticated_at, from_roles = found
        held = self.catalog.held(is_superuser=user.is_superuser, from_roles=from_roles or ())
        return Caller(
            account=user,
            session_id=claims.session_id,
            permissions=held,
            authenticated_at=authenticated_at,
        )

    async def _by_api_key(self, session: AsyncSession, key: str) -> Caller | None:
        found = (await session.exec(BY_API_KEY, params={"key_hash": key_hash(key)})).first()
        if found is None:
            return None
        user, api_key, from_roles = found
        if _due_for_a_write(api_key.last_used_at):
            await self._mark_used(session, api_key.id)
        held = self.catalog.held(
            is_superuser=user.is_superuser, from_roles=from_roles or (), scopes=api_key.scopes
        )
        return Caller(account=user, session_id=None, permissions=held, api_key_id=api_key.id)

    async def _mark_used(self, session: AsyncSession, key_id: uuid.UUID) -> None:
        """Its own commit, now, before the route writes anything: a read-only request's
        transaction is rolled back, and the write must outlive it. It happens at most once a
        minute per key. A session on the read replica cannot write: a primary session of its
        own does (outside the turns requests wait in: it is short and rare)."""
        if not is_replica_session(session):
            await ApiKeys.mark_used(session, key_id)
            await session.commit()
            return
        async with self.primary_sessions() as primary:
            await ApiKeys.mark_used(primary, key_id)
            await primary.commit()


def _due_for_a_write(last_used_at: datetime | None) -> bool:
    return last_used_at is None or utcnow() - last_used_at >= LAST_USED_PRECISION


class RateLimitOwners:
    """Whom a bearer token's requests count against, read without a database query: the user
    of a valid access token, a key this service minted (each key has its own budget), else
    nobody (counted by address)."""

    def __init__(self, access_tokens: AccessTokens, key_secrets: ApiKeySecrets) -> None:
        self.access_tokens = access_tokens
        self.key_secrets = key_secrets

    def __call__(self, token: str) -> str | None:
        if looks_like_api_key(token):
            if self.key_secrets.minted_here(token):
                return f"api_key:{key_hash(token)[:32]}"
            return None
        owner: uuid.UUID | None = self.access_tokens.owner(token)
        return f"user:{owner}" if owner else None
