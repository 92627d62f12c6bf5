"""Refresh-token races, against real PostgreSQL with real commits."""

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.accounts import bearer, login, new_email, register
from tests.conftest import forget_committed_user, http_client

ROUNDS = 5
CONCURRENT_REFRESHES = 20


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


async def test_concurrent_refreshes_with_one_token_keep_the_session_alive(
    committed_client: tuple[httpx.AsyncClient, str],
) -> None:
    # Two browser tabs (or twenty) refreshing together: REFRESH_REUSE_GRACE_SECONDS.
    client, email = committed_client
    for _ in range(ROUNDS):
        token = (await login(client, email))["refresh_token"]
        answers = await asyncio.gather(
            *(
                client.post("/api/v1/auth/jwt/refresh", json={"refresh_token": token})
                for _ in range(CONCURRENT_REFRESHES)
            )
        )
        assert [answer.status_code for answer in answers] == [200] * CONCURRENT_REFRESHES
        pairs = [answer.json() for answer in answers]
        assert len({pair["refresh_token"] for pair in pairs}) == CONCURRENT_REFRESHES
        for pair in pairs:  # every caller's new pair works: nobody was logged out
            me = await client.get("/api/v1/users/me", headers=bearer(pair["access_token"]))
            assert me.status_code == 200


async def test_with_no_grace_exactly_one_of_two_concurrent_refreshes_succeeds(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine
) -> None:
    app = app_factory(refresh_reuse_grace_seconds=0)
    email = new_email("strict-racer")
    try:
        async with app.router.lifespan_context(app), http_client(app) as client:
            await register(client, email)
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
                    "/api/v1/auth/jwt/refresh",
                    json={"refresh_token": winner.json()["refresh_token"]},
                )
                assert late.status_code == 401
    finally:
        await forget_committed_user(engine, "email = :e", e=email)
