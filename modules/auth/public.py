"""The auth module's public surface: how other modules learn who is calling."""

from typing import Annotated

from fastapi import Depends, Request

from modules.users.public import User, account_of
from shared.auth import authenticate, bearer_token
from shared.db import SessionDep


async def current_user(
    request: Request, session: SessionDep, token: str | None = Depends(bearer_token)
) -> User:
    # `authenticate` called, not depended on: one dependency fewer for FastAPI to solve on
    # every request of the routes that take the caller this way.
    return account_of(await authenticate(request, session, token))


# An active user whose login session is live (401 otherwise, in the envelope).
CurrentUser = Annotated[User, Depends(current_user)]

__all__ = ["CurrentUser"]
