"""FastAPI dependencies of the users module (resolved from the root container)."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends

from shared.api.auth import Caller
from shared.api.provided import provided
from shared.data.db import SessionDep

from .database import UserDatabase
from .manager import UserManager
from .models import User
from .passwords import admit_password_work
from .roles import Roles
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
# First in a hashing route's `dependencies=[...]`: its turn at hashing, before any connection.
PasswordWork = Depends(admit_password_work, scope="function")
UsersServiceDep = Annotated[UsersService, Depends(provided("users.service"))]
RolesDep = Annotated[Roles, Depends(provided("users.roles"))]


def account_of(caller: Caller) -> User:
    """The caller's `User`, as the authenticator loaded it in the request's session: the
    routes that change the account hand it to the user manager, with no second query.

    The users module cannot import auth (auth builds on users), so it takes the caller from
    the kernel's authentication slot, which auth fills with a `User`."""
    if not isinstance(caller.account, User):
        raise TypeError(f"the authenticator gave a {type(caller.account).__name__}, not a User")
    return caller.account
