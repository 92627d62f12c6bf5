"""Refresh-token races, against real PostgreSQL with real commits."""

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.accounts import login, new_email, register
from tests.conftest import forget_committed_user, http_client

ROUNDS = 5


@pytest.fixture
async def committed_client(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    app = app_factory()
    email = new_email("racer")
    async with app.router.lifespan_context(app), http_client(app) as client:
        await register(client, email)
        yield client, email
    await forget_committed_user(engine, "email = :e", e=email)


async def test_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(
    committed_client: tuple[httpx.AsyncClient, str],
) -> None:
    client, email = committed_client
    for _ in range(ROUNDS):
        token = (await login(client, email))["refresh_token"]
        first, second = await asyncio.gather(
            client.post("/api/v1/auth/jwt/refresh", json={"refresh_token": token}),
            client.post("/api/v1/auth/jwt/refresh", json={"refresh_token": token}),
        )
        winner, loser = sorted((first, second), key=lambda r: r.status_code)
        assert (winner.status_code, loser.status_code) == (200, 401)
        # The loser presented a token that had just been used: reuse, the family dies.
        assert loser.json()["error"]["code"] == "REFRESH_TOKEN_REUSED"
        late = await client.post(
            "/api/v1/auth/jwt/refresh", json={"refresh_token": winner.json()["refresh_token"]}
        )
        assert late.status_code == 401
