"""API keys (personal access tokens): minted, listed, revoked; read by the authenticator.

A key is `mlt_`, 32 random URL-safe characters (192 bits), then 8 characters of an HMAC of
them under SECRET_KEY. Only its SHA-256 is stored. The HMAC lets the rate limiter count a key's
requests in a bucket of its own without a database query while refusing that favour to keys
it did not mint (random strings would otherwise each get a fresh budget); keys minted before a
SECRET_KEY change still authenticate, counted by address.
"""

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

from fastapi import Request
from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.api.auth import AccountNotManagedByKeys
from shared.data.db import utcnow
from shared.errors import NotFound, parse_id

from .models import ApiKey

API_KEY_PREFIX = "mlt_"
_RANDOM_BYTES = 24  # 32 URL-safe characters
_CHECK_LENGTH = 8
API_KEY_LENGTH = len(API_KEY_PREFIX) + 32 + _CHECK_LENGTH
SHOWN_PREFIX_LENGTH = 12
# last_used_at is kept to the minute: a key is written at most once a minute, not per request.
LAST_USED_PRECISION = timedelta(minutes=1)


class ApiKeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"
    detail = "API key not found"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_api_key(token: str) -> bool:
    return token.startswith(API_KEY_PREFIX)


async def refuse_api_keys(request: Request) -> None:
    """403 when the request's bearer token is an API key (the /auth routes)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and looks_like_api_key(token.strip()):
        raise AccountNotManagedByKeys


class ApiKeySecrets:
    def __init__(self, secret_key: str) -> None:
        self._secret = secret_key.encode()

    def _check(self, body: str) -> str:
        digest = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:_CHECK_LENGTH]

    def mint(self) -> str:
        body = API_KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
        return body + self._check(body)

    def minted_here(self, key: str) -> bool:
        if len(key) != API_KEY_LENGTH or not looks_like_api_key(key):
            return False
        body, check = key[:-_CHECK_LENGTH], key[-_CHECK_LENGTH:]
        return hmac.compare_digest(check, self._check(body))


class ApiKeys:
    def __init__(self, secrets: ApiKeySecrets) -> None:
        self.secrets = secrets

    async def create(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        *,
        name: str,
        scopes: list[str],
        lifetime: timedelta,
    ) -> tuple[ApiKey, str]:
        """The new key's row and the key itself, which is not kept anywhere."""
        key = self.secrets.mint()
        row = ApiKey(
            user_id=user_id,
            name=name,
            scopes=sorted(set(scopes)),
            prefix=key[:SHOWN_PREFIX_LENGTH],
            key_hash=key_hash(key),
            expires_at=utcnow() + lifetime,
        )
        session.add(row)
        await session.flush()
        return row, key

    async def list(self, session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
        """The user's keys not revoked (expired ones too), newest first."""
        query = (
            select(ApiKey)
            .where(col(ApiKey.user_id) == user_id, col(ApiKey.revoked_at).is_(None))
            .order_by(col(ApiKey.created_at).desc(), col(ApiKey.id).desc())
        )
        return list((await session.exec(query)).all())

    async def revoke(self, session: AsyncSession, user_id: uuid.UUID, key_id: str) -> ApiKey:
        statement = (
            update(ApiKey)
            .where(
                col(ApiKey.id) == parse_id(key_id, ApiKeyNotFound),
                col(ApiKey.user_id) == user_id,
                col(ApiKey.revoked_at).is_(None),
            )
            .values(revoked_at=func.now())
            .returning(ApiKey)
        )
        revoked: ApiKey | None = (await session.exec(statement)).scalar_one_or_none()
        if revoked is None:
            raise ApiKeyNotFound
        return revoked

    @staticmethod
    async def mark_used(session: AsyncSession, key_id: uuid.UUID) -> None:
        """Writes `last_used_at`, unless a request of the last minute already did."""
        stale = func.now() - LAST_USED_PRECISION
        await session.exec(
            update(ApiKey)
            .where(
                col(ApiKey.id) == key_id,
                col(ApiKey.last_used_at).is_(None) | (col(ApiKey.last_used_at) < stale),
            )
            .values(last_used_at=func.now())
        )
