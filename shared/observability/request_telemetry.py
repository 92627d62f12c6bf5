"""One access-log line and the request metrics for every HTTP request (pure ASGI)."""

import time

import structlog
from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import RequestMetrics

access_logger = structlog.get_logger("app.access")
UNMATCHED_ROUTE = "<unmatched>"  # unknown paths share one label: raw paths would explode it


class RequestTelemetryMiddleware:
    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: dict[int, str] = {}  # keyed by id(): routes are unhashable dataclasses

    def _route_template(self, scope: Scope) -> str:
        """The matched route's full path template, e.g. `/api/v1/items/{item_id}`.

        The router leaves the matched route in the scope (a partial match for a 405), but an
        included route only knows its path without the include prefix, so the full templates
        are looked up once from the app's route table.
        """
        route = scope.get("route")
        if route is None:
            return UNMATCHED_ROUTE
        template = self._templates.get(id(route))
        if template is None:
            self._templates = {
                id(context.original_route): context.path_format or ""
                for context in iter_route_contexts(scope["app"].routes)
            }
            template = self._templates.get(id(route))
            if template is None:  # not in the table (a mount, say): remember the fallback
                template = str(getattr(route, "path", UNMATCHED_ROUTE))
                self._templates[id(route)] = template
        return template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees if the app fails before it starts a response

        async def send_capturing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_capturing_status)
        finally:
            duration = time.perf_counter() - started
            self.metrics.in_flight.dec()
            route = self._route_template(scope)
            self.metrics.observe(scope["method"], route, status, duration)
            client = scope.get("client")
            access_logger.info(
                "request",
                client=client[0] if client else None,
                method=scope["method"],
                route=route,
                path=scope["path"],
                status=status,
                duration_ms=round(duration * 1000, 2),
            )
