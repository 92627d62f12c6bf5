"""Login sessions: open, list, refresh with rotation and reuse detection, revoke, purge."""

import enum
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from modules.users.public import User
from shared.api.pagination import CursorCodec, time_ordered_page
from shared.edge.client import Client

from .models import AuthSession, RefreshToken
from .schemas import TokenPair
from .tokens import AccessTokens

REFRESH_TOKEN_BYTES = 32  # 256 bits of randomness
ORDERING = "-created_at"  # the session list: newest first, then by id


class RefreshRejected(enum.Enum):
    INVALID = "invalid"  # unknown, expired, revoked, or its user is inactive (reuse: ReusedToken)


@dataclass(frozen=True, slots=True)
class ReusedToken:
    """A rotated refresh token came back; its session (`session_id`, of `user_id`) is revoked."""

    session_id: uuid.UUID
    user_id: uuid.UUID


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginSessions:
    def __init__(
        self,
        access_tokens: AccessTokens,
        refresh_lifetime: timedelta,
        cursors: CursorCodec,
        *,
        reuse_grace: timedelta,
        max_lifetime: timedelta,
    ) -> None:
        self.access_tokens = access_tokens
        self.refresh_lifetime = refresh_lifetime
        # SESSION_MAX_DAYS: refreshing moves a session's end forward, never past this.
        self.max_lifetime = max_lifetime
        # REFRESH_REUSE_GRACE_SECONDS: how long after its first use a token still gets a pair.
        self.reuse_grace = reuse_grace
        self.cursors = cursors

    async def open(
        self, session: AsyncSession, user_id: uuid.UUID, client: Client
    ) -> tuple[TokenPair, uuid.UUID]:
        """A new session of the user: its first token pair, and the session's id."""
        now = datetime.now(UTC)
        login = AuthSession(
            user_id=user_id,
            created_at=now,
            last_used_at=now,
            expires_at=self._end(now, logged_in_at=now),
            ip=client.ip,
            user_agent=client.user_agent,
        )
        session.add(login)
        return await self._issue(session, login, now), login.id

    async def list_live(
        self, session: AsyncSession, user_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> tuple[list[AuthSession], str | None]:
        """The user's sessions that still work (not revoked, not expired), newest first."""
        live = select(AuthSession).where(
            col(AuthSession.user_id) == user_id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > sa.func.now(),
        )
        return await time_ordered_page(
            session,
            live,
            at=col(AuthSession.created_at),
            id_=col(AuthSession.id),
            cursors=self.cursors,
            ordering=ORDERING,
            cursor=cursor,
            limit=limit,
        )

    async def revoke_own(
        self, session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> bool:
        """End one live session of the user; False when there is no such session."""
        ended = await session.exec(
            sa.update(AuthSession)
            .where(
                col(AuthSession.id) == session_id,
                col(AuthSession.user_id) == user_id,
                col(AuthSession.revoked_at).is_(None),
                col(AuthSession.expires_at) > sa.func.now(),
            )
            .values(revoked_at=datetime.now(UTC))
            .returning(col(AuthSession.id))
        )
        return ended.first() is not None

    async def refresh(
        self, session: AsyncSession, token: str
    ) -> TokenPair | ReusedToken | RefreshRejected:
        now = datetime.now(UTC)
        token_hash = _hash(token)
        # Atomic use: of two concurrent refreshes with one token, the second waits for the
        # first to commit and then matches no row.
        used = await session.exec(
            sa.update(RefreshToken)
            .where(
                col(RefreshToken.token_hash) == token_hash,
                col(RefreshToken.used_at).is_(None),
                col(RefreshToken.expires_at) > now,
            )
            .values(used_at=now)
            .returning(col(RefreshToken.session_id))
        )
        session_id = used.scalar_one_or_none()
        if session_id is None:
            return await self._rejection(session, token_hash, now)
        return await self._continue(session, session_id, now)

    async def _continue(
        self, session: AsyncSession, session_id: uuid.UUID, now: datetime
    ) -> TokenPair | RefreshRejected:
        """The session's next pair, if the session is live and its user active."""
        live = await session.exec(
            select(AuthSession)
            .join(User, col(User.id) == col(AuthSession.user_id))
            .where(
                col(AuthSession.id) == session_id,
                col(AuthSession.revoked_at).is_(None),
                col(AuthSession.expires_at) > now,
                # A session opened before SESSION_MAX_DAYS was lowered ends by the new value.
                col(AuthSession.created_at) > now - self.max_lifetime,
                col(User.is_active),
            )
        )
        login = live.first()
        if login is None:
            return RefreshRejected.INVALID
        login.expires_at = self._end(now, logged_in_at=login.created_at)
        login.last_used_at = now
        return await self._issue(session, login, now)

    def _end(self, now: datetime, *, logged_in_at: datetime) -> datetime:
        """When a session refreshed `now` ends: a refresh lifetime on, within its maximum."""
        return min(now + self.refresh_lifetime, logged_in_at + self.max_lifetime)

    async def _rejection(
        self, session: AsyncSession, token_hash: str, now: datetime
    ) -> TokenPair | ReusedToken | RefreshRejected:
        known = await session.exec(
            select(RefreshToken.session_id, RefreshToken.used_at, AuthSession.user_id)
            .join(AuthSession, col(AuthSession.id) == col(RefreshToken.session_id))
            .where(col(RefreshToken.token_hash) == token_hash)
        )
        row = known.first()
        if row is None or row[1] is None:  # unknown, or unused but expired
            return RefreshRejected.INVALID
        session_id, used_at, user_id = row
        # Used moments ago: two tabs (or a retried request) refreshing together, not a thief
        # replaying a copy later. The session goes on; each caller gets its own pair. (`now`
        # was read before waiting for the winner's row lock, so it may precede `used_at`.)
        if self.reuse_grace and now - used_at <= self.reuse_grace:
            return await self._continue(session, session_id, now)
        # A rotated token came back: someone holds a copy. End the family for everyone.
        await self.revoke(session, session_id)
        return ReusedToken(session_id=session_id, user_id=user_id)

    async def _issue(self, session: AsyncSession, login: AuthSession, now: datetime) -> TokenPair:
        refresh_token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        session.add(
            RefreshToken(
                session_id=login.id,
                token_hash=_hash(refresh_token),
                created_at=now,
                expires_at=login.expires_at,
            )
        )
        await session.flush()
        return TokenPair(
            access_token=self.access_tokens.issue(login.user_id, login.id),
            refresh_token=refresh_token,
            expires_in=int(self.access_tokens.lifetime.total_seconds()),
        )

    async def mark_authenticated(self, session: AsyncSession, session_id: uuid.UUID) -> None:
        """The session's user proved their password just now (sudo mode starts over)."""
        await session.exec(
            sa.update(AuthSession)
            .where(col(AuthSession.id) == session_id)
            .values(authenticated_at=datetime.now(UTC))
        )

    async def revoke(self, session: AsyncSession, session_id: uuid.UUID) -> None:
        await session.exec(
            sa.update(AuthSession)
            .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=datetime.now(UTC))
        )

    async def revoke_all(
        self, session: AsyncSession, user_id: uuid.UUID, *, keep: uuid.UUID | None = None
    ) -> None:
        query = sa.update(AuthSession).where(
            col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None)
        )
        if keep is not None:
            query = query.where(col(AuthSession.id) != keep)
        await session.exec(query.values(revoked_at=datetime.now(UTC)))

    async def purge(self, session: AsyncSession, *, older_than: timedelta) -> int:
        """Delete sessions (and, by cascade, their tokens) that ended `older_than` ago."""
        cutoff = datetime.now(UTC) - older_than
        result = await session.exec(
            sa.delete(AuthSession).where(
                sa.or_(col(AuthSession.expires_at) < cutoff, col(AuthSession.revoked_at) < cutoff)
            )
        )
        return int(result.rowcount)
