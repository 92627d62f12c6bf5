"""The route class of every module's router: `APIRouter(..., route_class=ModuleRoute)`
(tests/test_route_guards.py fails on a route of another class).

A request that changes nothing may read from the replica; when the replica fails under it
(stopped, crashed, cut off) after its session connected, it runs once more, from its
dependencies on, reading from the primary: the client gets its answer, not a 503. FastAPI
documents subclassing APIRoute and wrapping `get_route_handler` for this.
"""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from ..data.read_routing import ReadRouting


class ModuleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_reading_from_primary_if_replica_fails(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as error:
                routing: ReadRouting = request.app.state.container.read_routing()
                if not routing.falls_back(request, error):
                    raise
            return await handle(request)

        return handle_reading_from_primary_if_replica_fails
