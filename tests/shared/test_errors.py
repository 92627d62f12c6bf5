"""The error envelope (README, "Conventions every route follows"), for every kind of failure,
through HTTP."""

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel, Field

from shared.errors import NotFound, PreconditionFailed
from tests.conftest import CapturedLogs


class ThingNotFound(NotFound):
    code = "THING_NOT_FOUND"
    detail = "Thing not found"


class ThingCreate(BaseModel):
    title: str = Field(min_length=1)
    quantity: int = Field(ge=0)


router = APIRouter(prefix="/things", tags=["things"])


@router.get("/missing")
async def raise_app_error() -> None:
    raise ThingNotFound


@router.get("/stale")
async def raise_app_error_with_headers() -> None:
    raise PreconditionFailed("Version mismatch", headers={"ETag": '"3"'})


@router.get("/library-code")
async def raise_library_code() -> None:
    raise HTTPException(400, detail="LOGIN_BAD_CREDENTIALS")


@router.get("/library-reason")
async def raise_library_reason() -> None:
    raise HTTPException(
        400, detail={"code": "REGISTER_INVALID_PASSWORD", "reason": "Password is too short"}
    )


@router.get("/unauthenticated")
async def raise_unauthorized() -> None:
    raise HTTPException(401, detail="Unauthorized")


@router.get("/crash")
async def crash() -> None:
    raise RuntimeError("secret connection string postgresql://u:p@db/x")


@router.get("/missing-file")
async def raise_unrelated_os_error() -> None:
    raise FileNotFoundError("/etc/modulith/secret.key")


@router.post("")
async def create_thing(thing: ThingCreate, limit: int = 10) -> ThingCreate:
    return thing


@pytest.fixture
def things_app(app: FastAPI) -> FastAPI:
    app.include_router(router, prefix="/api/v1")
    return app


def error_of(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, object] = body["error"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


async def test_app_error_renders_its_status_code_and_detail(
    things_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/v1/things/missing")
    assert response.status_code == 404
    assert error_of(response) == {
        "code": "THING_NOT_FOUND",
        "detail": "Thing not found",
        "request_id": response.headers["x-request-id"],
    }


async def test_app_error_keeps_its_message_and_headers(
    things_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/v1/things/stale")
    assert response.status_code == 412
    assert response.headers["etag"] == '"3"'
    error = error_of(response)
    assert (error["code"], error["detail"]) == ("PRECONDITION_FAILED", "Version mismatch")


async def test_unknown_route_is_404_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert error_of(response)["code"] == "NOT_FOUND"


async def test_trailing_slash_is_not_redirected(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/")
    assert response.status_code == 404
    assert "location" not in response.headers


async def test_wrong_method_is_405_with_allow_header(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert error_of(response)["code"] == "METHOD_NOT_ALLOWED"


async def test_validation_errors_list_each_field_with_its_location(
    things_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post("/api/v1/things?limit=many", json={"title": "", "quantity": -1})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert isinstance(error["fields"], list)
    locations = {field["loc"] for field in error["fields"]}
    assert locations == {"body.title", "body.quantity", "query.limit"}
    assert all(field["message"] for field in error["fields"])


async def test_malformed_json_is_a_422_validation_error_on_the_body(
    things_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/api/v1/things", content=b'{"title": "a",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert isinstance(error["fields"], list)
    assert error["fields"][0]["loc"] == "body"
    assert error["fields"][0]["message"].startswith("Invalid JSON")


async def test_http_exception_with_a_code_as_detail_keeps_the_code(
    things_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/v1/things/library-code")
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["detail"]) == ("LOGIN_BAD_CREDENTIALS", "Bad Request")


async def test_http_exception_with_code_and_reason_uses_the_reason_as_detail(
    things_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/v1/things/library-reason")
    error = error_of(response)
    assert (error["code"], error["detail"]) == (
        "REGISTER_INVALID_PASSWORD",
        "Password is too short",
    )


async def test_401_carries_www_authenticate_bearer(
    things_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/v1/things/unauthenticated")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert error_of(response) == {
        "code": "UNAUTHORIZED",
        "detail": "Unauthorized",
        "request_id": response.headers["x-request-id"],
    }


async def test_an_os_error_unrelated_to_the_database_is_a_500_not_a_503(
    things_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/v1/things/missing-file")
    assert response.status_code == 500
    assert error_of(response)["code"] == "INTERNAL_ERROR"
    assert "secret.key" not in response.text


async def test_unexpected_failure_is_a_500_without_internals_and_is_logged(
    things_app: FastAPI, client: httpx.AsyncClient, logs: CapturedLogs
) -> None:
    response = await client.get("/api/v1/things/crash", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "crash-1"
    assert error_of(response) == {
        "code": "INTERNAL_ERROR",
        "detail": "Internal server error",
        "request_id": "crash-1",
    }
    assert "postgresql" not in response.text and "Traceback" not in response.text
    [logged] = logs.named("app.errors")
    assert logged["request_id"] == "crash-1"
    [exception] = logged["exception"]
    assert exception["exc_type"] == "RuntimeError"
    # Tracebacks never carry local variables (they hold headers, tokens, passwords).
    assert all("locals" not in frame for frame in exception["frames"])
    [access] = logs.named("app.access")
    assert (access["status"], access["request_id"]) == (500, "crash-1")
