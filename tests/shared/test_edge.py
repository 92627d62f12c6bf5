"""The edge of the app: client addresses behind proxies, CORS, compression."""

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import capture_logs, http_client

SPOOFED = {"X-Forwarded-For": "203.0.113.7"}


async def client_seen_by_the_app(app: FastAPI, **headers: str) -> str:
    with capture_logs() as logs:
        async with http_client(app) as client:  # ASGITransport connects from 127.0.0.1
            await client.get("/health", headers=headers)
    client_address: str = logs.named("app.access")[-1]["client"]
    return client_address


@pytest.mark.parametrize("trusted", ["", "10.0.0.1"], ids=["none", "another-proxy"])
async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    app_factory: Callable[..., FastAPI], trusted: str
) -> None:
    app = app_factory(trusted_proxies=trusted or "[]")
    assert await client_seen_by_the_app(app, **SPOOFED) == "127.0.0.1"


@pytest.mark.parametrize("trusted", ["127.0.0.1", "127.0.0.0/8"])
async def test_a_trusted_proxy_forwards_the_client_address(
    app_factory: Callable[..., FastAPI], trusted: str
) -> None:
    app = app_factory(trusted_proxies=trusted)
    assert await client_seen_by_the_app(app, **SPOOFED) == "203.0.113.7"


async def test_an_allowed_origin_gets_cors_headers_on_answers_and_preflights(
    client: httpx.AsyncClient,
) -> None:
    origin = {"Origin": "http://localhost:3000"}
    answer = await client.get("/health", headers=origin)
    assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "ETag" in answer.headers["access-control-expose-headers"]
    preflight = await client.options(
        "/api/v1/items",
        headers=origin
        | {
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization,if-match",
        },
    )
    assert preflight.status_code == 200
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    # Errors carry CORS headers too, or a browser client could not read the envelope.
    missing = await client.get("/api/v1/nowhere", headers=origin)
    assert missing.headers["access-control-allow-origin"] == "http://localhost:3000"


async def test_another_origin_gets_no_cors_headers(client: httpx.AsyncClient) -> None:
    answer = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in answer.headers
    preflight = await client.options(
        "/api/v1/items",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400


async def test_responses_over_1_kb_are_gzipped_small_ones_are_not(
    client: httpx.AsyncClient,
) -> None:
    large = await client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert large.headers["content-encoding"] == "gzip"
    assert large.json()["openapi"]  # httpx decompressed it
    small = await client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers


async def test_a_client_that_does_not_accept_gzip_gets_large_responses_as_they_are(
    client: httpx.AsyncClient,
) -> None:
    for accepted in ("identity", "br, deflate"):
        large = await client.get("/openapi.json", headers={"Accept-Encoding": accepted})
        assert "content-encoding" not in large.headers
        assert large.json()["openapi"]
    listed = await client.get("/openapi.json", headers={"Accept-Encoding": "br, gzip;q=0.5"})
    assert listed.headers["content-encoding"] == "gzip"
