"""fastapi-users' SQLAlchemy adapter, made to flush instead of commit.

The stock adapter commits inside create/update/delete; here the request's unit of work
commits once, so a registration, a password change and the session revocations it causes
succeed or fail together.
"""

import uuid
from typing import Any

from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.data.db import utcnow

from .models import User


class EmailTaken(Exception):
    """The unique e-mail index refused a write (a concurrent request took the address)."""


class UserDatabase(SQLAlchemyUserDatabase[User, uuid.UUID]):
    session: AsyncSession  # SQLModel's session (the adapter only needs SQLAlchemy's)

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, User)

    async def create(self, create_dict: dict[str, Any]) -> User:
        user = User(**create_dict)
        self.session.add(user)
        await self._flush()
        return user

    async def update(self, user: User, update_dict: dict[str, Any]) -> User:
        for key, value in update_dict.items():
            setattr(user, key, value)
        user.updated_at = utcnow()
        self.session.add(user)
        await self._flush()
        return user

    async def delete(self, user: User) -> None:
        await self.session.delete(user)
        await self.session.flush()

    async def _flush(self) -> None:
        try:
            await self.session.flush()
        except IntegrityError as error:
            if "uq_users_email_lower" in str(error.orig):
                raise EmailTaken from error
            raise
