"""Every /auth route, from the files that hold them by subject."""

from fastapi import APIRouter

from .account_routes import router as account_routes
from .reauth_routes import router as reauth_routes
from .session_routes import router as session_routes
from .two_factor_routes import router as two_factor_routes

router = APIRouter()
for part in (account_routes, reauth_routes, session_routes, two_factor_routes):
    router.include_router(part)
