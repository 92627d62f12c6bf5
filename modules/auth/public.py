"""The auth module's public surface: how other modules learn who is calling."""

from typing import Annotated

from fastapi import Depends

from modules.users.public import User
from shared.auth import Identity, authenticate, authenticate_superuser


async def current_user(identity: Annotated[Identity, Depends(authenticate)]) -> User:
    user: User = identity.user
    return user


async def current_superuser(
    identity: Annotated[Identity, Depends(authenticate_superuser)],
) -> User:
    user: User = identity.user
    return user


# An active user whose login session is live (401 otherwise, in the envelope).
CurrentUser = Annotated[User, Depends(current_user)]
# The same, and a superuser (403 otherwise).
CurrentSuperuser = Annotated[User, Depends(current_superuser)]

__all__ = ["CurrentSuperuser", "CurrentUser", "current_superuser", "current_user"]
