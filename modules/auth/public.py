"""The auth module's public surface: how other modules learn who is calling."""

from typing import Annotated

from fastapi import Depends

from modules.users.public import UserRow, caller_row
from shared.auth import Caller


async def current_user(identity: Caller) -> UserRow:
    return caller_row(identity)


# An active user whose login session is live (401 otherwise, in the envelope).
CurrentUser = Annotated[UserRow, Depends(current_user)]

__all__ = ["CurrentUser"]
