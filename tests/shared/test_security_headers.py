"""Security headers on every answer, through HTTP: errors included, no-store on the API, HSTS
only in production."""

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from tests.accounts import Account
from tests.conftest import SECRET, request_once

EVERYWHERE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/api/v1/users/me", 200),
        ("GET", "/api/v1/items/not-an-id", 404),
        ("POST", "/api/v1/items", 422),
        ("GET", "/nowhere", 404),
        ("DELETE", "/health", 405),
    ],
)
async def test_every_answer_carries_the_security_headers(
    client: httpx.AsyncClient, alice: Account, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path, headers=alice.headers, json={})
    assert response.status_code == status
    assert {name: response.headers.get(name) for name in EVERYWHERE} == EVERYWHERE
    assert "strict-transport-security" not in response.headers  # not in production


async def test_api_answers_are_not_stored_and_probes_may_be(
    client: httpx.AsyncClient, alice: Account
) -> None:
    for response in (
        await client.get("/api/v1/users/me", headers=alice.headers),
        await client.get("/api/v1/users/me"),  # a 401 too
        await client.post(
            "/api/v1/auth/jwt/login", data={"username": alice.email, "password": "x"}
        ),
    ):
        assert response.headers["cache-control"] == "no-store"
    assert "cache-control" not in (await client.get("/health")).headers


async def test_hsts_in_production_only(app_factory: Callable[..., FastAPI]) -> None:
    production = app_factory(environment="production", secret_key=SECRET)
    response = await request_once(production, "GET", "/health")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    development = await request_once(app_factory(environment="development"), "GET", "/health")
    assert "strict-transport-security" not in development.headers
