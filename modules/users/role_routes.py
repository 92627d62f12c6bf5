"""/roles: named sets of permissions, managed by superusers (in a login session)."""

from fastapi import APIRouter, Response, status

from modules.audit.public import AuditTrail, AuditTrailDep
from shared.api.auth import Caller, CurrentSuperuser
from shared.api.error_handlers import error_responses
from shared.api.route import ModuleRoute
from shared.data.db import SessionDep, UnitOfWork

from .dependencies import RolesDep
from .models import Role
from .schemas import RoleCreate, RoleList, RoleRead, RoleUpdate

router = APIRouter(prefix="/roles", tags=["roles"], route_class=ModuleRoute)

LOCATION = {"Location": {"description": "The new role's URL.", "schema": {"type": "string"}}}


async def _record(audit: AuditTrail, action: str, role: Role, by: Caller) -> None:
    await audit.record(
        action,
        actor_id=by.id,
        target_type="role",
        target_id=role.id,
        details={"name": role.name, "permissions": role.permissions},
    )


@router.post(
    "",
    summary="Create a role",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {"headers": LOCATION, "description": "Created"},
        **error_responses(400, 401, 403, 409, 422),
    },
)
async def create_role(
    body: RoleCreate,
    caller: CurrentSuperuser,
    roles: RolesDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
    response: Response,
) -> RoleRead:
    role = await roles.create(
        session, name=body.name, description=body.description, permissions=body.permissions
    )
    await _record(audit, "roles.created", role, caller)
    response.headers["Location"] = f"/api/v1/roles/{role.id}"
    return RoleRead.model_validate(role)


@router.get("", summary="List roles", responses=error_responses(401, 403))
async def list_roles(_: CurrentSuperuser, roles: RolesDep, session: SessionDep) -> RoleList:
    return RoleList(data=[RoleRead.model_validate(role) for role in await roles.by_name(session)])


@router.get("/{role_id}", summary="Get a role", responses=error_responses(401, 403, 404))
async def get_role(
    role_id: str, _: CurrentSuperuser, roles: RolesDep, session: SessionDep
) -> RoleRead:
    return RoleRead.model_validate(await roles.get(session, role_id))


@router.patch(
    "/{role_id}",
    summary="Update a role",
    description="Its holders, and their API keys, have the new permissions at once.",
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
async def update_role(
    role_id: str,
    body: RoleUpdate,
    caller: CurrentSuperuser,
    roles: RolesDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> RoleRead:
    role = await roles.update(session, role_id, body.model_dump(exclude_unset=True))
    await _record(audit, "roles.updated", role, caller)
    return RoleRead.model_validate(role)


@router.delete(
    "/{role_id}",
    summary="Delete a role",
    description="Its holders lose its permissions at once.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def delete_role(
    role_id: str,
    caller: CurrentSuperuser,
    roles: RolesDep,
    audit: AuditTrailDep,
    session: UnitOfWork,
) -> Response:
    role = await roles.delete(session, role_id)
    await _record(audit, "roles.deleted", role, caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
