"""Every route of the users module: accounts, the copies of their data, the roles given to
them, and the permissions roles are made of."""

from fastapi import APIRouter

from shared.api.route import ModuleRoute

from .export_routes import router as export_routes
from .permission_routes import router as permission_routes
from .role_routes import router as role_routes
from .user_routes import router as user_routes

router = APIRouter(route_class=ModuleRoute)
for part in (export_routes, user_routes, role_routes, permission_routes):
    router.include_router(part)
