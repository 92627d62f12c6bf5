"""The composition root: the app builds, every dependency resolves, every route is documented."""

import inspect
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordRequestForm

import shared.api.provided
from main import MODULES
from shared.api.provided import provided
from tests.conftest import http_client

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_app_builds_nothing_and_reads_no_settings() -> None:
    # A broken setting would stop any code that reads settings; importing must not.
    env = {**os.environ, "DB_POOL_SIZE": "broken", "PYTHONPATH": str(ROOT)}
    code = "import main, sys; sys.exit('app' in vars(main) or 'container' in vars(main))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_every_module_is_registered_once_with_a_router() -> None:
    names = [module.name for module in MODULES]
    assert len(names) == len(set(names))
    assert "health" in names


def test_a_dependency_naming_no_provider_stops_start_up(
    app_factory: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared.api.provided, "_PATHS", set(shared.api.provided._PATHS))
    provided("items.no_such_service")
    with pytest.raises(LookupError, match=r"items\.no_such_service"):
        app_factory()


def test_no_dependency_of_a_route_runs_in_the_thread_pool(app: FastAPI) -> None:
    """FastAPI runs a dependency that is a plain callable in its thread pool: a thread hop per
    request (dependency-injector's Provide markers are such callables). Only the login form,
    a class, is let through: Argon2 dwarfs the hop."""

    def sync_calls(dependant: Dependant) -> Iterator[str]:
        for sub in dependant.dependencies:
            call = sub.call
            if call is None or call is OAuth2PasswordRequestForm:
                continue
            # A function or class as it is; an instance (a security scheme) by its __call__.
            target = (
                call if inspect.isroutine(call) or inspect.isclass(call) else type(call).__call__
            )
            if not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)):
                yield getattr(call, "__qualname__", repr(call))
            yield from sync_calls(sub)

    offenders = {
        f"{path}: {name}" for path, route in api_routes(app) for name in sync_calls(route.dependant)
    }
    assert not offenders


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    return [
        (context.path_format or "", context.original_route)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]


def test_every_route_has_a_summary_a_tag_and_a_readable_operation_id(app: FastAPI) -> None:
    schema = app.openapi()
    for path, route in api_routes(app):
        for method in route.methods or ():
            operation = schema["paths"][path][method.lower()]
            assert operation.get("summary"), f"{method} {path} has no summary"
            assert operation["operationId"] == f"{route.tags[0]}-{route.name}"
            assert "500" in operation["responses"], f"{method} {path} does not document 500"


def test_no_route_has_a_trailing_slash(app: FastAPI) -> None:
    for path, _ in api_routes(app):
        assert path == "/" or not path.endswith("/"), path


def test_error_envelope_is_in_the_schema(app: FastAPI) -> None:
    components = app.openapi()["components"]["schemas"]
    assert set(components["ErrorEnvelope"]["properties"]) == {"error"}
    assert {"code", "detail", "request_id", "fields"} <= set(components["ErrorBody"]["properties"])


async def test_docs_are_served_when_enabled(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await client.get(path)).status_code == 200, path


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
async def test_docs_can_be_switched_off(app_factory: Callable[..., FastAPI], path: str) -> None:
    async with http_client(app_factory(docs_enabled=False)) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_the_engine_is_disposed_on_shutdown(app_factory: Callable[..., FastAPI]) -> None:
    app = app_factory()
    async with app.router.lifespan_context(app), http_client(app) as client:
        assert (await client.get("/ready")).status_code == 200
        pool = app.state.container.engine().pool
        assert pool.checkedin() == 1
    # dispose() replaced the pool: the old one's connections were closed.
    assert app.state.container.engine().pool is not pool
    assert pool.checkedin() == 0


# The envelope with one more field: the login's 401 MFA_REQUIRED carries the mfa_token.
ENVELOPE_EXTENSIONS = {("/api/v1/auth/jwt/login", "401"): "MfaRequiredEnvelope"}


def test_every_error_response_is_documented_as_the_envelope(app: FastAPI) -> None:
    schema = app.openapi()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400 or path == "/ready":  # /ready's 503 is its report
                    continue
                body = response["content"]["application/json"]["schema"]
                envelope = ENVELOPE_EXTENSIONS.get((path, status), "ErrorEnvelope")
                assert body == {"$ref": f"#/components/schemas/{envelope}"}, (
                    path,
                    method,
                    status,
                )


def test_the_mfa_required_envelope_is_the_envelope_with_the_mfa_token(app: FastAPI) -> None:
    components = app.openapi()["components"]["schemas"]
    body = components["MfaRequiredBody"]
    assert set(body["required"]) == {"code", "detail", "request_id", "mfa_token"}
    assert set(body["properties"]) == set(components["ErrorBody"]["properties"]) | {"mfa_token"}


def test_every_secured_route_documents_401_and_uses_the_login_form_scheme(app: FastAPI) -> None:
    schema = app.openapi()
    scheme = schema["components"]["securitySchemes"]["bearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/v1/auth/jwt/login"
    secured = [
        (path, method, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    ]
    assert len(secured) >= 8  # /users/* and logout(-all)
    for path, method, operation in secured:
        assert "401" in operation["responses"], (path, method)
