"""/permissions: every permission the modules declare, for whoever writes roles or keys."""

from typing import Annotated

from fastapi import APIRouter, Depends

from shared.api.auth import CurrentCaller
from shared.api.error_handlers import error_responses
from shared.api.permissions import PermissionCatalog
from shared.api.provided import provided
from shared.api.route import ModuleRoute

from .schemas import PermissionList, PermissionRead

router = APIRouter(prefix="/permissions", tags=["permissions"], route_class=ModuleRoute)
CatalogDep = Annotated[PermissionCatalog, Depends(provided("permissions"))]


@router.get("", summary="Every declared permission", responses=error_responses(401))
async def list_permissions(_: CurrentCaller, catalog: CatalogDep) -> PermissionList:
    return PermissionList(
        data=[
            PermissionRead(name=p.name, module=p.module, description=p.description)
            for p in catalog.permissions
        ]
    )
