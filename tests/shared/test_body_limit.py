from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request

from tests.conftest import http_client

LIMIT = 1024
router = APIRouter(tags=["echo"])


@router.post("/echo")
async def echo_size(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}


@pytest.fixture
def echo_app(app_factory: Callable[..., FastAPI]) -> FastAPI:
    app = app_factory(max_body_bytes=LIMIT)
    app.include_router(router, prefix="/api/v1")
    return app


async def chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


async def test_a_body_at_the_limit_is_accepted(echo_app: FastAPI) -> None:
    async with http_client(echo_app) as client:
        response = await client.post("/api/v1/echo", content=b"x" * LIMIT)
    assert response.status_code == 200
    assert response.json() == {"received": LIMIT}


async def test_a_declared_length_over_the_limit_is_refused_before_reading_the_body(
    echo_app: FastAPI,
) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/echo",
        "raw_path": b"/api/v1/echo",
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"content-length", str(LIMIT + 1).encode())],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    reads = 0
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * (LIMIT + 1), "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await echo_app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert reads == 0


async def test_a_chunked_body_over_the_limit_is_413_payload_too_large(echo_app: FastAPI) -> None:
    async with http_client(echo_app) as client:
        response = await client.post("/api/v1/echo", content=chunks(LIMIT * 4))
    assert "content-length" not in response.request.headers  # really chunked
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["request_id"] == response.headers["x-request-id"]


async def test_a_declared_body_over_the_limit_is_413_in_the_envelope(echo_app: FastAPI) -> None:
    async with http_client(echo_app) as client:
        response = await client.post("/api/v1/echo", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_the_default_limit_is_one_mebibyte(client: httpx.AsyncClient) -> None:
    response = await client.post("/health", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
