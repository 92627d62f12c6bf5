"""FastAPI dependencies of the users module (resolved from the root container)."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends

from shared.auth import Identity, authenticate, authenticate_superuser
from shared.db import SessionDep
from shared.provided import provided

from .database import UserDatabase
from .manager import UserManager
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
# The users module cannot import the auth module (auth builds on users): it takes the caller
# from the kernel's authentication slot, which auth fills.
Caller = Annotated[Identity, Depends(authenticate)]
SuperuserCaller = Annotated[Identity, Depends(authenticate_superuser)]
