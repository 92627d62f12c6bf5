from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from modules.audit.public import AuditTrailDep
from shared.api.auth import CurrentCaller, CurrentSuperuser, RecentlyAuthenticated
from shared.api.error_handlers import ErrorEnvelope, error_responses
from shared.api.pagination import PageCursor, PageLimit
from shared.data.db import SessionDep, UnitOfWork

from .dependencies import PasswordWork, UserManagerDep, UsersServiceDep, account_of
from .errors import InvalidCurrentPassword
from .schemas import UserAdminUpdate, UserPage, UserRead, UserSelfUpdate

router = APIRouter(prefix="/users", tags=["users"])
# A superuser's change of these is recorded with the old and the new value.
AUDITED_FLAGS = frozenset({"is_active", "is_superuser", "is_verified", "mfa_enabled"})


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


@router.get("/me", summary="The caller's account", responses=error_responses(401))
async def get_me(caller: CurrentCaller) -> UserRead:
    return UserRead.model_validate(account_of(caller))


@router.patch(
    "/me",
    dependencies=[PasswordWork],
    summary="Update the caller's account",
    description="`current_password` is required to change `email` or `password`. A new e-mail "
    "must be verified again; a new password ends every other session of the caller. A wrong "
    "`current_password` counts as a failed login of the account (`429 LOGIN_THROTTLED` while "
    "it is delayed).",
    responses={
        **error_responses(400, 401, 409, 422),
        429: {"model": ErrorEnvelope, "description": "Rate limited, or `LOGIN_THROTTLED`"},
    },
)
async def update_me(
    body: UserSelfUpdate,
    caller: CurrentCaller,
    manager: UserManagerDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> UserRead:
    user = account_of(caller)
    changes = body.model_dump(exclude_unset=True, exclude={"current_password"})
    old_email = user.email
    try:
        updated = await manager.update_own_account(
            user, changes, current_password=body.current_password, session_id=caller.session_id
        )
    except InvalidCurrentPassword:
        await audit.record_on_user("auth.reauth.failed", user.id, details={"route": "users.me"})
        raise
    for action, details in _self_update_events(changes, old_email, updated.email):
        await audit.record_on_user(action, user.id, details=details)
    return UserRead.model_validate(updated)


@router.delete(
    "/me",
    summary="Delete the caller's account",
    description="The account, its items and its sessions are gone. Needs a password proved "
    "within `REAUTH_WINDOW_MINUTES` in this session (at login or with `POST /auth/reauth`), "
    "else `401 REAUTH_REQUIRED`.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 409),
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
    summary="List users (superusers)",
    description="Ordered by `created_at`, then `id`; `email` filters by case-insensitive "
    "substring.",
    responses=error_responses(400, 401, 403, 422),
)
async def list_users(
    _: CurrentSuperuser,
    service: UsersServiceDep,
    session: SessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
) -> UserPage:
    users, next_cursor = await service.list(session, limit=limit, cursor=cursor, email=email)
    return UserPage(data=[UserRead.model_validate(u) for u in users], next_cursor=next_cursor)


@router.get(
    "/{user_id}", summary="Get a user (superusers)", responses=error_responses(401, 403, 404)
)
async def get_user(
    user_id: str, _: CurrentSuperuser, service: UsersServiceDep, session: SessionDep
) -> UserRead:
    return UserRead.model_validate(await service.get(session, user_id))


@router.patch(
    "/{user_id}",
    dependencies=[PasswordWork],
    summary="Update a user (superusers)",
    description="May also set `is_active`, `is_superuser`, `is_verified`, and `mfa_enabled: "
    "false` (turns the user's two-factor login off). Deactivating a user or setting their "
    "password ends all their sessions.",
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
async def update_user(
    user_id: str,
    body: UserAdminUpdate,
    caller: CurrentSuperuser,
    manager: UserManagerDep,
    service: UsersServiceDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> UserRead:
    user = await service.get(session, user_id)
    if body.is_superuser is False or body.is_active is False:
        await service.ensure_not_last_superuser(session, user)
    before = {flag: getattr(user, flag) for flag in AUDITED_FLAGS}
    updated = await manager.update_by_superuser(user, body)
    changed = body.model_dump(exclude_unset=True)
    details: dict[str, object] = {"fields": sorted(changed)}
    for flag in AUDITED_FLAGS & changed.keys():
        details[flag] = {"old": before[flag], "new": getattr(updated, flag)}
    await audit.record_on_user("users.admin.updated", user.id, by=caller.id, details=details)
    return UserRead.model_validate(updated)


@router.delete(
    "/{user_id}",
    summary="Delete a user (superusers)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409),
)
async def delete_user(
    user_id: str,
    caller: CurrentSuperuser,
    manager: UserManagerDep,
    service: UsersServiceDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> Response:
    user = await service.get(session, user_id)
    await service.ensure_not_last_superuser(session, user)
    await manager.delete(user)
    await audit.record_on_user(
        "users.admin.deleted", user.id, by=caller.id, details={"email": user.email}
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
