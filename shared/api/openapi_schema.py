"""What every route's schema says without each route repeating it: the answers the kernel
gives on any route, and the headers it puts on every response. A client generated from the
schema then knows every status it can get (openapi-python-client raises on any other), and
`tests/e2e/test_generated_client.py` proves it.

- `503` (the database unavailable) on every route that touches it: all of /api/v1, /ready;
- `413` on every route that takes a body (MAX_BODY_BYTES);
- `X-Request-ID` on every response; `X-RateLimit-*` on every response of a rate-limited
  route, `Retry-After` on its `429`;
- `security: []` on the probes, which need no token; an API route says it itself
  (`openapi_extra=PUBLIC`), so the schema tells public from forgotten;
- `x-permissions` on every operation that needs one: the scopes FastAPI wrote into its
  `security` requirement from the route's `permitted(...)`, and every declared permission
  as a scope of the bearer scheme, with its description;
- `422` as the handlers send it: the envelope, not FastAPI's `HTTPValidationError`.
"""

from typing import Any

from fastapi import FastAPI

from .error_handlers import ERROR_DESCRIPTIONS
from .permissions import PermissionCatalog, permissions_in_schema

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
_INTEGER = {"type": "integer"}
REQUEST_ID = {
    "X-Request-ID": {
        "description": "The request's id (yours if you sent a valid one): in logs and errors.",
        "schema": {"type": "string"},
    }
}
RATE_LIMIT = {
    "X-RateLimit-Limit": {"description": "Requests allowed in the window.", "schema": _INTEGER},
    "X-RateLimit-Remaining": {"description": "Requests left in the window.", "schema": _INTEGER},
    "X-RateLimit-Reset": {"description": "When the window resets (epoch s).", "schema": _INTEGER},
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": _INTEGER}
}


def _touches_database(path: str) -> bool:
    return path.startswith("/api/") or path == "/ready"


def _complete_operation(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "422" in responses:  # FastAPI's default model; the handlers send the envelope
        responses["422"]["content"] = {"application/json": {"schema": ENVELOPE}}
    if _touches_database(path):
        responses.setdefault("503", _error("503"))
    if "requestBody" in operation:
        responses.setdefault("413", _error("413"))
    limited = "429" in responses
    for status, response in responses.items():
        headers = response.setdefault("headers", {})
        headers.update(REQUEST_ID)
        if limited:
            headers.update(RATE_LIMIT)
        if status == "429":
            headers.update(RETRY_AFTER)
    if not path.startswith("/api/"):
        operation.setdefault("security", [])  # the probes: no token needed
    if permissions := permissions_in_schema(operation):
        operation["x-permissions"] = permissions


def _error(status: str) -> dict[str, Any]:
    description = ERROR_DESCRIPTIONS[int(status)]
    return {"description": description, "content": {"application/json": {"schema": ENVELOPE}}}


def _declare_scopes(schema: dict[str, Any], catalog: PermissionCatalog) -> None:
    schemes = schema.get("components", {}).get("securitySchemes", {})
    for scheme in schemes.values():
        for flow in scheme.get("flows", {}).values():
            flow["scopes"] = {p.name: p.description for p in catalog.permissions}


def complete_schema(app: FastAPI, catalog: PermissionCatalog) -> None:
    """Wrap `app.openapi` so the schema it builds (once) is completed as above."""
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build_schema()
            for path, operations in schema["paths"].items():
                for operation in operations.values():
                    _complete_operation(path, operation)
            _declare_scopes(schema, catalog)
            components = schema.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
