"""Every /auth route, from the files that hold them by subject. None of them serves an API
key: a key cannot manage the account, so one in the Authorization header is a 403 here, on
the routes that take no bearer token (refresh, say) as on those that do."""

from fastapi import APIRouter, Depends

from shared.api.error_handlers import error_responses
from shared.api.route import ModuleRoute

from .account_routes import router as account_routes
from .api_key_routes import router as api_key_routes
from .api_keys import refuse_api_keys
from .reauth_routes import router as reauth_routes
from .session_routes import router as session_routes
from .two_factor_routes import router as two_factor_routes

router = APIRouter(
    dependencies=[Depends(refuse_api_keys)], responses=error_responses(403), route_class=ModuleRoute
)
for part in (account_routes, api_key_routes, reauth_routes, session_routes, two_factor_routes):
    router.include_router(part)
