from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from sqlmodel.ext.asyncio.session import AsyncSession

from modules.audit.public import AuditTrailDep
from shared.api.auth import Caller, CurrentCaller, RecentlyAuthenticated, SessionCaller
from shared.api.error_handlers import ErrorEnvelope, error_responses
from shared.api.pagination import PageCursor, PageLimit
from shared.api.permissions import Permission, permitted
from shared.api.route import ModuleRoute
from shared.data.db import SessionDep, UnitOfWork

from .dependencies import PasswordWork, RolesDep, UserManagerDep, UsersServiceDep, account_of
from .errors import InvalidCurrentPassword, OwnAccountThroughMe, SuperuserOnly
from .models import User
from .roles import Roles
from .schemas import UserAdminUpdate, UserMe, UserPage, UserRead, UserSelfUpdate

router = APIRouter(prefix="/users", tags=["users"], route_class=ModuleRoute)

USERS_READ = Permission("users:read", "Read any user's account (GET /users, /users/{id})")
USERS_WRITE = Permission(
    "users:write", "Change or delete other users' accounts, superusers' excepted"
)
UsersReader = Annotated[Caller, permitted(USERS_READ)]
UsersWriter = Annotated[Caller, permitted(USERS_WRITE)]

# A change of these by an administrator is recorded with the old and the new value.
AUDITED_FLAGS = frozenset({"is_active", "is_superuser", "is_verified", "mfa_enabled"})
# What only a superuser may set on an account, whatever else the caller may do.
SUPERUSER_FIELDS = frozenset({"is_superuser", "roles", "mfa_enabled"})


def _acts_as_superuser(caller: Caller) -> bool:
    """A superuser in a login session: their API keys act within scopes, and no scope grants
    what only a superuser may do."""
    return caller.is_superuser and caller.session_id is not None


def _check_reach(caller: Caller, user: User, changed: frozenset[str] = frozenset()) -> None:
    """What `users:write` does not reach: a superuser's account, the privilege fields, and the
    caller's own account (/users/me asks for the current password, sudo mode and a session;
    this route must not be a way around them)."""
    if _acts_as_superuser(caller):
        return
    if user.id == caller.id:
        raise OwnAccountThroughMe
    if user.is_superuser or SUPERUSER_FIELDS & changed:
        raise SuperuserOnly


async def _read(session: AsyncSession, roles: Roles, user: User) -> UserRead:
    names = await roles.names_of(session, [user.id])
    return UserRead.model_validate(user).model_copy(update={"roles": names.get(user.id, [])})


def _self_update_events(
    changes: dict[str, Any], old_email: str, new_email: str
) -> list[tuple[str, dict[str, Any]]]:
    """What PATCH /users/me puts on the audit trail: the update, and each sensitive change."""
    events: list[tuple[str, dict[str, Any]]] = [("users.updated", {"fields": sorted(changes)})]
    if "password" in changes:
        events.append(("users.password.changed", {}))
    if new_email != old_email:
        events.append(("users.email.changed", {"old": old_email, "new": new_email}))
    return events


@router.get(
    "/me",
    summary="The caller's account",
    description="With the caller's effective `permissions`. Works with any API key.",
    responses=error_responses(401),
)
async def get_me(caller: CurrentCaller, roles: RolesDep, session: SessionDep) -> UserMe:
    user = await _read(session, roles, account_of(caller))
    return UserMe(**user.model_dump(), permissions=sorted(caller.permissions))


@router.patch(
    "/me",
    dependencies=[PasswordWork],
    summary="Update the caller's account",
    description="`current_password` is required to change `email` or `password`. A new e-mail "
    "must be verified again; a new password ends every other session of the caller. A wrong "
    "`current_password` counts as a failed login of the account (`429 LOGIN_THROTTLED` while "
    "it is delayed). Not with an API key (`403`).",
    responses={
        **error_responses(400, 401, 403, 409, 422),
        429: {"model": ErrorEnvelope, "description": "Rate limited, or `LOGIN_THROTTLED`"},
    },
)
async def update_me(
    body: UserSelfUpdate,
    caller: SessionCaller,
    manager: UserManagerDep,
    roles: RolesDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> UserRead:
    user = account_of(caller)
    changes = body.model_dump(exclude_unset=True, exclude={"current_password"})
    old_email = user.email
    try:
        updated = await manager.update_own_account(
            user,
            changes,
            current_password=body.current_password,
            session_id=caller.login_session_id,
        )
    except InvalidCurrentPassword:
        await audit.record_on_user("auth.reauth.failed", user.id, details={"route": "users.me"})
        raise
    for action, details in _self_update_events(changes, old_email, updated.email):
        await audit.record_on_user(action, user.id, details=details)
    return await _read(session, roles, updated)


@router.delete(
    "/me",
    summary="Delete the caller's account",
    description="The account, its items and its sessions are gone. Needs a password proved "
    "within `REAUTH_WINDOW_MINUTES` in this session (at login or with `POST /auth/reauth`), "
    "else `401 REAUTH_REQUIRED`. Not with an API key (`403`).",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 409),
)
async def delete_me(
    caller: RecentlyAuthenticated,
    manager: UserManagerDep,
    service: UsersServiceDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> Response:
    user = account_of(caller)
    await service.ensure_not_last_superuser(session, user)
    await manager.delete(user)
    await audit.record_on_user("users.deleted", user.id, details={"email": user.email})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "",
    summary="List users",
    description="Ordered by `created_at`, then `id`; `email` filters by case-insensitive "
    "substring.",
    responses=error_responses(400, 401, 403, 422),
)
async def list_users(
    _: UsersReader,
    service: UsersServiceDep,
    roles: RolesDep,
    session: SessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
) -> UserPage:
    users, next_cursor = await service.list(session, limit=limit, cursor=cursor, email=email)
    names = await roles.names_of(session, [user.id for user in users])
    page = [
        UserRead.model_validate(user).model_copy(update={"roles": names.get(user.id, [])})
        for user in users
    ]
    return UserPage(data=page, next_cursor=next_cursor)


@router.get("/{user_id}", summary="Get a user", responses=error_responses(401, 403, 404))
async def get_user(
    user_id: str, _: UsersReader, service: UsersServiceDep, roles: RolesDep, session: SessionDep
) -> UserRead:
    return await _read(session, roles, await service.get(session, user_id))


@router.patch(
    "/{user_id}",
    dependencies=[PasswordWork],
    summary="Update a user",
    description="May also set `is_active` and `is_verified`. Deactivating a user or setting "
    "their password ends all their sessions. Only a superuser (in a login session) may set "
    "`is_superuser`, `roles` (the list replaces the user's roles) or `mfa_enabled: false` "
    "(turns the user's two-factor login off), or change a superuser's account or their own "
    "here (others use `/users/me`).",
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
async def update_user(
    user_id: str,
    body: UserAdminUpdate,
    caller: UsersWriter,
    manager: UserManagerDep,
    service: UsersServiceDep,
    roles: RolesDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> UserRead:
    user = await service.get(session, user_id)
    changed = body.model_dump(exclude_unset=True)
    _check_reach(caller, user, frozenset(changed))
    if body.is_superuser is False or body.is_active is False:
        await service.ensure_not_last_superuser(session, user)
    before = {flag: getattr(user, flag) for flag in AUDITED_FLAGS}
    details: dict[str, object] = {"fields": sorted(changed)}
    if body.roles is not None:
        old_roles = (await roles.names_of(session, [user.id])).get(user.id, [])
        await roles.give(session, user.id, body.roles)
        details["roles"] = {"old": old_roles, "new": sorted(set(body.roles))}
    account_changes = UserAdminUpdate.model_validate(
        body.model_dump(exclude_unset=True, exclude={"roles"})
    )
    updated = await manager.update_by_superuser(user, account_changes)
    for flag in AUDITED_FLAGS & changed.keys():
        details[flag] = {"old": before[flag], "new": getattr(updated, flag)}
    await audit.record_on_user("users.admin.updated", user.id, by=caller.id, details=details)
    return await _read(session, roles, updated)


@router.delete(
    "/{user_id}",
    summary="Delete a user",
    description="Only a superuser (in a login session) may delete a superuser's account, or "
    "their own here (others use `/users/me`).",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409),
)
async def delete_user(
    user_id: str,
    caller: UsersWriter,
    manager: UserManagerDep,
    service: UsersServiceDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> Response:
    user = await service.get(session, user_id)
    _check_reach(caller, user)
    await service.ensure_not_last_superuser(session, user)
    await manager.delete(user)
    await audit.record_on_user(
        "users.admin.deleted", user.id, by=caller.id, details={"email": user.email}
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
