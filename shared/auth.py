"""The authentication slot: the kernel knows a request may carry a bearer token, the auth
module decides whom it belongs to.

The auth module binds an `Authenticator` to the root container's `authenticator` provider.
Modules take `Depends(authenticate)` (or the typed aliases in `modules/auth/public.py`) and
never import the auth module's internals; the users module, which auth itself builds on, can
use it without an import cycle.
"""

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from .db import SessionDep
from .errors import Forbidden, Unauthorized

LOGIN_URL = "/api/v1/auth/jwt/login"

# One scheme for the whole API, so Swagger's Authorize button (password flow) applies it
# everywhere. auto_error=False: a missing token is answered in the envelope below.
bearer_token = OAuth2PasswordBearer(tokenUrl=LOGIN_URL, auto_error=False, scheme_name="bearer")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling: the user record (the users module's class) and their login session."""

    user: Any
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
