"""The authentication slot: the kernel knows a request may carry a bearer token, the auth
module decides whom it belongs to.

The auth module binds an `Authenticator` to the root container's `authenticator` provider.
Modules take `Depends(authenticate)` (or the typed aliases in `modules/auth/public.py`) and
never import the auth module's internals; the users module, which auth itself builds on, can
use it without an import cycle.
"""

import uuid
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from .db import SessionDep
from .errors import Forbidden, Unauthorized

LOGIN_URL = "/api/v1/auth/jwt/login"

# One scheme for the whole API, so Swagger's Authorize button (password flow) applies it
# everywhere. auto_error=False: a missing token is answered in the envelope below.
bearer_token = OAuth2PasswordBearer(tokenUrl=LOGIN_URL, auto_error=False, scheme_name="bearer")


class Principal(Protocol):
    """What the kernel knows of a caller. The users module's `User` is one; the users module
    narrows to it (`account_of`) where it needs the whole record."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def is_active(self) -> bool: ...

    @property
    def is_superuser(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling, and through which login session."""

    user: Principal
    session_id: uuid.UUID


class Authenticator(Protocol):
    async def __call__(self, session: AsyncSession, token: str) -> Identity | None: ...


async def authenticate(
    request: Request, session: SessionDep, token: str | None = Depends(bearer_token)
) -> Identity:
    if token:
        authenticator: Authenticator = request.app.state.container.authenticator()
        identity = await authenticator(session, token)
        if identity is not None:
            return identity
    raise Unauthorized("Not authenticated")


async def authenticate_superuser(identity: Annotated[Identity, Depends(authenticate)]) -> Identity:
    """As `authenticate`, and the caller must be a superuser (403 otherwise)."""
    if not identity.user.is_superuser:
        raise Forbidden("Superuser only")
    return identity


# The caller of a route, for any module: `caller: Caller` (401 without a live session), and
# `_: SuperuserCaller` (403 for others).
Caller = Annotated[Identity, Depends(authenticate)]
SuperuserCaller = Annotated[Identity, Depends(authenticate_superuser)]
