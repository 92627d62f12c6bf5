"""Use cases of the /users routes that fastapi-users' manager does not cover."""

import uuid
from datetime import datetime

from sqlalchemy import func, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.pagination import CursorCodec, InvalidCursor

from .errors import LastSuperuser, UserNotFound
from .models import User

ORDERING = "created_at"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class UsersService:
    def __init__(self, cursors: CursorCodec) -> None:
        self.cursors = cursors

    async def get(self, session: AsyncSession, user_id: str) -> User:
        try:
            parsed = uuid.UUID(user_id)
        except ValueError:
            raise UserNotFound from None  # a malformed id is just an id nobody has
        user = await session.get(User, parsed)
        if user is None:
            raise UserNotFound
        return user

    async def list(
        self, session: AsyncSession, *, limit: int, cursor: str | None, email: str | None
    ) -> tuple[list[User], str | None]:
        query = select(User).order_by(col(User.created_at), col(User.id)).limit(limit + 1)
        if email:
            pattern = f"%{_escape_like(email.lower())}%"
            query = query.where(func.lower(User.email).like(pattern, escape="\\"))
        if cursor is not None:
            created_at, last_id = self._position(cursor)
            query = query.where(tuple_(col(User.created_at), col(User.id)) > (created_at, last_id))
        users = list((await session.exec(query)).all())
        if len(users) <= limit:
            return users, None
        last = users[limit - 1]
        return users[:limit], self.cursors.encode(
            ORDERING, [last.created_at.isoformat(), str(last.id)]
        )

    def _position(self, cursor: str) -> tuple[datetime, uuid.UUID]:
        position = self.cursors.decode(ORDERING, cursor)
        try:
            created_at, last_id = position
            return datetime.fromisoformat(created_at), uuid.UUID(last_id)
        except (TypeError, ValueError):
            raise InvalidCursor from None

    async def ensure_not_last_superuser(self, session: AsyncSession, user: User) -> None:
        """Refuse to demote, deactivate or delete the last active superuser.

        The active superusers' rows are locked first, so two superusers demoting each other
        at the same moment cannot both succeed and leave none.
        """
        if not (user.is_superuser and user.is_active):
            return
        locked = select(User.id).where(col(User.is_superuser), col(User.is_active))
        active_superusers = (await session.exec(locked.with_for_update())).all()
        if len(active_superusers) <= 1:
            raise LastSuperuser
