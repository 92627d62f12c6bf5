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
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from ..data.db import SessionDep, utcnow
from ..data.replica import is_replica_session
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


class AccountNotManagedByKeys(Forbidden):
    detail = "An API key cannot manage the account: log in to do this"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: an account, through one of its login sessions or one of its API keys.
    Services take it to decide what the request may see and change."""

    account: Account
    # The login session (None: an API key is calling).
    session_id: uuid.UUID | None
    # What the caller may do (shared/api/permissions.py): for a key, only what is both in
    # its scopes and held by its owner now.
    permissions: frozenset[str] = frozenset()
    api_key_id: uuid.UUID | None = None
    # When the caller last proved their password in this session (None: never in it).
    authenticated_at: datetime | None = None

    @property
    def id(self) -> uuid.UUID:
        return self.account.id

    @property
    def is_superuser(self) -> bool:
        """The owner's ownership rules apply to their keys too (a superuser's key with
        `items:read` reads every item); what only a superuser may *do* needs a session
        (`CurrentSuperuser`)."""
        return self.account.is_superuser

    @property
    def login_session_id(self) -> uuid.UUID:
        """The caller's login session; an API key has none and is refused (403)."""
        if self.session_id is None:
            raise AccountNotManagedByKeys
        return self.session_id


class Authenticator(Protocol):
    async def __call__(self, session: AsyncSession, token: str) -> Caller | None: ...


async def authenticate(
    request: Request, session: SessionDep, token: str | None = Depends(bearer_token)
) -> Caller:
    """The one dependency that says who is calling: 401 without a live session."""
    if token:
        authenticator: Authenticator = request.app.state.container.authenticator()
        caller = await authenticator(session, token)
        if caller is None and is_replica_session(session):
            # A login session or key made within the replica's lag is not there yet: the
            # primary has the last word.
            routing = request.app.state.container.read_routing()
            async with routing.primary_session() as primary:
                caller = await authenticator(primary, token)
        if caller is not None:
            return caller
    raise Unauthorized("Not authenticated")


async def authenticate_session(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
    """As `authenticate`, through a login session: an API key cannot manage the account
    (sessions, 2FA, keys, the account itself) and gets 403."""
    if caller.session_id is None:
        raise AccountNotManagedByKeys
    return caller


async def authenticate_superuser(
    caller: Annotated[Caller, Depends(authenticate_session)],
) -> Caller:
    """As `authenticate_session`, and the caller must be a superuser (403 otherwise). A
    superuser's API key does not get this far: keys act within their scopes, and what only a
    superuser may do has no scope."""
    if not caller.is_superuser:
        raise Forbidden("Superuser only")
    return caller


class ReauthRequired(Unauthorized):
    code = "REAUTH_REQUIRED"
    detail = "Prove your password again (POST /api/v1/auth/reauth) to do this"


async def authenticate_recently(
    request: Request, caller: Annotated[Caller, Depends(authenticate_session)]
) -> Caller:
    """As `authenticate`, and the caller proved their password within REAUTH_WINDOW_MINUTES
    ("sudo mode"): what a stolen access token alone must not be enough for."""
    window = timedelta(minutes=request.app.state.container.settings().reauth_window_minutes)
    if caller.authenticated_at is None or utcnow() - caller.authenticated_at > window:
        raise ReauthRequired
    return caller


# The caller of a route, for any module. A route that needs a permission takes
# `Annotated[Caller, permitted(X)]` (shared/api/permissions.py); otherwise it says whom it
# serves: `CurrentCaller`, any logged-in user or API key (401 without one); `SessionCaller`,
# a login session (403 for an API key); `CurrentSuperuser` (403 for others);
# `RecentlyAuthenticated`, a session that proved its password within REAUTH_WINDOW_MINUTES
# (401 REAUTH_REQUIRED otherwise). A route for anyone says so with `openapi_extra=PUBLIC`.
CurrentCaller = Annotated[Caller, Depends(authenticate)]
SessionCaller = Annotated[Caller, Depends(authenticate_session)]
CurrentSuperuser = Annotated[Caller, Depends(authenticate_superuser)]
RecentlyAuthenticated = Annotated[Caller, Depends(authenticate_recently)]
# No token needed, said in the schema (`security: []`): a route without any of the above
# must say it, or tests/test_route_guards.py fails (a route left open by oversight).
PUBLIC: dict[str, Any] = {"security": []}
