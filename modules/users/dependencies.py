"""FastAPI dependencies of the users module (resolved from the root container)."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.auth import Identity
from shared.db import SessionDep
from shared.provided import provided

from .database import UserDatabase
from .manager import UserManager
from .models import User, UserRow
from .service import UsersService


async def get_user_manager(
    session: SessionDep,
    # `.provider`: the factory itself, called here with the request's session.
    make_manager: Callable[[UserDatabase], UserManager] = Depends(
        provided("users.user_manager.provider")
    ),
) -> UserManager:
    return make_manager(UserDatabase(session))


UserManagerDep = Annotated[UserManager, Depends(get_user_manager)]
UsersServiceDep = Annotated[UsersService, Depends(provided("users.service"))]


async def account_of(identity: Identity, session: AsyncSession) -> User:
    """The caller's users row as a `User` of the request's session, for the routes that change
    the account (through the user manager). The authenticator read the row already: it joins
    the session as it was read (`load=False`), with no second query.

    The users module cannot import auth (auth builds on users), so it takes the caller from
    the kernel's authentication slot, which auth fills with a `UserRow`."""
    row = caller_row(identity)
    user = User(**row.model_dump())
    make_transient_to_detached(user)  # as if just loaded: nothing pending to write
    return await session.merge(user, load=False)


def caller_row(identity: Identity) -> UserRow:
    """The caller as the authenticator read them."""
    if not isinstance(identity.user, UserRow):
        raise TypeError(f"the authenticator gave a {type(identity.user).__name__}, not a UserRow")
    return identity.user
