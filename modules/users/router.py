from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from shared.auth import Caller, SuperuserCaller
from shared.db import SessionDep, UnitOfWork
from shared.error_handlers import error_responses
from shared.pagination import PageCursor, PageLimit

from .dependencies import UserManagerDep, UsersServiceDep, account_of
from .schemas import UserAdminUpdate, UserPage, UserRead, UserSelfUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", summary="The caller's account", responses=error_responses(401))
async def get_me(caller: Caller) -> UserRead:
    return UserRead.model_validate(caller.user)


@router.patch(
    "/me",
    summary="Update the caller's account",
    description="`current_password` is required to change `email` or `password`. A new e-mail "
    "must be verified again; a new password ends every other session of the caller.",
    responses=error_responses(400, 401, 409, 422),
)
async def update_me(
    body: UserSelfUpdate, caller: Caller, manager: UserManagerDep, session: UnitOfWork
) -> UserRead:
    updated = await manager.update_own_account(
        account_of(caller),
        body.model_dump(exclude_unset=True, exclude={"current_password"}),
        current_password=body.current_password,
        session_id=caller.session_id,
    )
    return UserRead.model_validate(updated)


@router.delete(
    "/me",
    summary="Delete the caller's account",
    description="The account, its items and its sessions are gone.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 409),
)
async def delete_me(
    caller: Caller, manager: UserManagerDep, service: UsersServiceDep, session: UnitOfWork
) -> Response:
    user = account_of(caller)
    await service.ensure_not_last_superuser(session, user)
    await manager.delete(user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "",
    summary="List users (superusers)",
    description="Ordered by `created_at`, then `id`; `email` filters by case-insensitive "
    "substring.",
    responses=error_responses(400, 401, 403, 422),
)
async def list_users(
    _: SuperuserCaller,
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
    user_id: str, _: SuperuserCaller, service: UsersServiceDep, session: SessionDep
) -> UserRead:
    return UserRead.model_validate(await service.get(session, user_id))


@router.patch(
    "/{user_id}",
    summary="Update a user (superusers)",
    description="May also set `is_active`, `is_superuser`, `is_verified`. Deactivating a user "
    "or setting their password ends all their sessions.",
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
async def update_user(
    user_id: str,
    body: UserAdminUpdate,
    _: SuperuserCaller,
    manager: UserManagerDep,
    service: UsersServiceDep,
    session: UnitOfWork,
) -> UserRead:
    user = await service.get(session, user_id)
    if body.is_superuser is False or body.is_active is False:
        await service.ensure_not_last_superuser(session, user)
    return UserRead.model_validate(await manager.update_by_superuser(user, body))


@router.delete(
    "/{user_id}",
    summary="Delete a user (superusers)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409),
)
async def delete_user(
    user_id: str,
    _: SuperuserCaller,
    manager: UserManagerDep,
    service: UsersServiceDep,
    session: UnitOfWork,
) -> Response:
    user = await service.get(session, user_id)
    await service.ensure_not_last_superuser(session, user)
    await manager.delete(user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
