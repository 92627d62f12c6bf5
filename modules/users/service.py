"""Use cases of the /users routes that fastapi-users' manager does not cover."""

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.api.pagination import CursorCodec, escape_like, time_ordered_page
from shared.errors import parse_id

from .errors import LastSuperuser, UserNotFound
from .models import User

ORDERING = "created_at"


class UsersService:
    def __init__(self, cursors: CursorCodec) -> None:
        self.cursors = cursors

    async def get(self, session: AsyncSession, user_id: str) -> User:
        user = await session.get(User, parse_id(user_id, UserNotFound))
        if user is None:
            raise UserNotFound
        return user

    async def list(
        self, session: AsyncSession, *, limit: int, cursor: str | None, email: str | None
    ) -> tuple[list[User], str | None]:
        query = select(User)
        if email:
            pattern = f"%{escape_like(email.lower())}%"
            query = query.where(func.lower(User.email).like(pattern, escape="\\"))
        return await time_ordered_page(
            session,
            query,
            at=col(User.created_at),
            id_=col(User.id),
            cursors=self.cursors,
            ordering=ORDERING,
            cursor=cursor,
            limit=limit,
            newest_first=False,
        )

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
