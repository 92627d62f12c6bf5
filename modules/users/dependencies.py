"""FastAPI dependencies of the users module (wired to the root container)."""

from collections.abc import Callable
from typing import Annotated

from dependency_injector.wiring import Provide, Provider, inject
from fastapi import Depends

from shared.auth import Identity, authenticate
from shared.db import SessionDep
from shared.errors import Forbidden

from .database import UserDatabase
from .manager import UserManager
from .service import UsersService


@inject
async def get_user_manager(
    session: SessionDep,
    make_manager: Callable[[UserDatabase], UserManager] = Depends(Provider["users.user_manager"]),
) -> UserManager:
    return make_manager(UserDatabase(session))


@inject
async def get_users_service(
    service: UsersService = Depends(Provide["users.service"]),
) -> UsersService:
    return service


async def _superuser(identity: Annotated[Identity, Depends(authenticate)]) -> Identity:
    if not identity.user.is_superuser:
        raise Forbidden("Superuser only")
    return identity


UserManagerDep = Annotated[UserManager, Depends(get_user_manager)]
UsersServiceDep = Annotated[UsersService, Depends(get_users_service)]
# The users module cannot import the auth module (auth builds on users): it takes the caller
# from the kernel's authentication slot, which auth fills.
Caller = Annotated[Identity, Depends(authenticate)]
SuperuserCaller = Annotated[Identity, Depends(_superuser)]
