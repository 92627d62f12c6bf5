"""The authentication slot: the kernel knows a request may carry a bearer token, the auth
module decides whom it belongs to.

The auth module binds an `Authenticator` to the root container's `authenticator` provider.
Modules take `Depends(authenticate)` (or the typed aliases in `modules/auth/public.py`) and
never import the auth module's internals; the users module, which auth itself builds on, can
use it without an import cycle.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from ..data.db import SessionDep, utcnow
from ..errors import Forbidden, Unauthorized

LOGIN_URL = "/api/v1/auth/jwt/login"

# One scheme for the whole API, so Swagger's Authorize button (password flow) applies it
# everywhere. auto_error=False: a missing token is answered in the envelope below.
bearer_token = OAuth2PasswordBearer(tokenUrl=LOGIN_URL, auto_error=False, scheme_name="bearer")


class Account(Protocol):
    """What the kernel knows of the account behind a caller. The users module's `User` is
    one; the users module narrows to it (`account_of`) where it needs the whole record."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def is_active(self) -> bool: ...

    @property
    def is_superuser(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: an account, through one of its login sessions. Services take it to
    decide what the request may see and change."""

    account: Account
    session_id: uuid.UUID
    # When the caller last proved their password in this session (None: never in it).
    authenticated_at: datetime | None = None

    @property
    def id(self) -> uuid.UUID:
        return self.account.id

    @property
    def is_superuser(self) -> bool:
        return self.account.is_superuser


class Authenticator(Protocol):
    async def __call__(self, session: AsyncSession, token: str) -> Caller | None: ...


async def authenticate(
    request: Request, session: SessionDep, token: str | None = Depends(bearer_token)
) -> Caller:
    """The one dependency that says who is calling: 401 without a live session."""
    if token:
        authenticator: Authenticator = request.app.state.container.authenticator()
        caller = await authenticator(session, token)
        if caller is not None:
            return caller
    raise Unauthorized("Not authenticated")


async def authenticate_superuser(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
    """As `authenticate`, and the caller must be a superuser (403 otherwise)."""
    if not caller.is_superuser:
        raise Forbidden("Superuser only")
    return caller


class ReauthRequired(Unauthorized):
    code = "REAUTH_REQUIRED"
    detail = "Prove your password again (POST /api/v1/auth/reauth) to do this"


async def authenticate_recently(
    request: Request, caller: Annotated[Caller, Depends(authenticate)]
) -> Caller:
    """As `authenticate`, and the caller proved their password within REAUTH_WINDOW_MINUTES
    ("sudo mode"): what a stolen access token alone must not be enough for."""
    window = timedelta(minutes=request.app.state.container.settings().reauth_window_minutes)
    if caller.authenticated_at is None or utcnow() - caller.authenticated_at > window:
        raise ReauthRequired
    return caller


# The caller of a route, for any module: `caller: CurrentCaller` (401 without a live session),
# `caller: CurrentSuperuser` (403 for others) and `caller: RecentlyAuthenticated` (401
# REAUTH_REQUIRED unless the password was proved within REAUTH_WINDOW_MINUTES).
CurrentCaller = Annotated[Caller, Depends(authenticate)]
CurrentSuperuser = Annotated[Caller, Depends(authenticate_superuser)]
RecentlyAuthenticated = Annotated[Caller, Depends(authenticate_recently)]
