"""Load shedding for password work (README, "Account protection"): a flood of logins is
refused at once past what the hashing threads will start soon, before it takes a database
connection, and what is refused is neither checked nor counted. Real Argon2, real PostgreSQL."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from modules.auth.throttle import throttle_key
from modules.users.passwords import PasswordHasher
from tests.accounts import new_email, register
from tests.conftest import forget_committed_user, http_client

LOGIN = "/api/v1/auth/jwt/login"
FLOOD = 32


@pytest.fixture
async def production_hashing(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, str]]:
    # Production's Argon2 parameters (about 0.1 s a hash) and one hashing thread: admission
    # lets 9 requests in at a time.
    app = app_factory(rate_limit_enabled=False, login_failures_before_delay=1000)
    app.state.container.users.password_hasher.override(
        providers.Object(PasswordHasher(max_concurrency=1))
    )
    email = new_email("flood")
    async with app.router.lifespan_context(app), http_client(app) as client:
        await register(client, email)
        yield app, client, email
    await forget_committed_user(engine, "email = :e", e=email)
    async with engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM login_throttles WHERE key = :k"), {"k": throttle_key(email)}
        )


async def test_a_login_flood_past_the_hashing_threads_is_refused_at_once_and_not_counted(
    production_hashing: tuple[FastAPI, httpx.AsyncClient, str], engine: AsyncEngine
) -> None:
    _, client, email = production_hashing
    answers = await asyncio.gather(
        *(
            client.post(LOGIN, data={"username": email, "password": f"wrong-{n}"})
            for n in range(FLOOD)
        )
    )
    codes = [r.json()["error"]["code"] for r in answers]
    shed = [r for r in answers if r.status_code == 503]
    assert 0 < len(shed) < FLOOD
    assert {r.json()["error"]["code"] for r in shed} == {"SERVICE_UNAVAILABLE"}
    assert all(r.headers["Retry-After"] == "1" for r in shed)
    # What was admitted was checked and counted; what was shed, neither.
    checked = codes.count("LOGIN_BAD_CREDENTIALS")
    assert checked + len(shed) == FLOOD
    async with engine.connect() as connection:
        counted = await connection.execute(
            text("SELECT failures FROM login_throttles WHERE key = :k"),
            {"k": throttle_key(email)},
        )
        assert counted.scalar_one() == checked
        audited = await connection.execute(
            text(
                "SELECT count(*) FROM audit_events WHERE action = 'auth.login.failed'"
                " AND details->>'email' = :e"
            ),
            {"e": email},
        )
        assert audited.scalar_one() == checked


async def test_other_routes_keep_their_connections_during_a_login_flood(
    production_hashing: tuple[FastAPI, httpx.AsyncClient, str],
) -> None:
    app, client, email = production_hashing
    pool = app.state.container.engine().pool
    flood = [
        asyncio.create_task(client.post(LOGIN, data={"username": email, "password": "wrong"}))
        for _ in range(FLOOD * 4)
    ]
    await asyncio.sleep(0.05)  # the flood is on
    # Never more connections held by logins than requests admitted to hashing.
    peak = 0
    while not all(task.done() for task in flood):
        peak = max(peak, pool.checkedout())
        await asyncio.sleep(0.005)
    await asyncio.gather(*flood)
    # One hashing thread admits 9 requests; the pool has 20 connections to give.
    assert peak <= 9


HASHING_ROUTES = [
    ("POST", "/api/v1/auth/register", {"json": {"email": "x@example.com", "password": "p" * 12}}),
    ("POST", "/api/v1/auth/jwt/login", {"data": {"username": "x@example.com", "password": "p"}}),
    ("POST", "/api/v1/auth/forgot-password", {"json": {"email": "x@example.com"}}),
    ("POST", "/api/v1/auth/reset-password", {"json": {"token": "t", "password": "p" * 12}}),
    ("POST", "/api/v1/auth/reauth", {"json": {"password": "p"}}),
    ("POST", "/api/v1/auth/2fa/disable", {"json": {"current_password": "p", "code": "123456"}}),
    ("PATCH", "/api/v1/users/me", {"json": {"full_name": "x"}}),
    ("PATCH", f"/api/v1/users/{uuid.uuid4()}", {"json": {"full_name": "x"}}),
]


@pytest.mark.parametrize(("method", "path", "body"), HASHING_ROUTES)
async def test_every_route_that_hashes_is_shed_before_it_touches_the_database(
    app_factory: Callable[..., FastAPI], method: str, path: str, body: dict[str, Any]
) -> None:
    app = app_factory()
    app.state.container.users.password_hasher.override(
        providers.Object(PasswordHasher.at_minimal_cost(max_admitted=0))  # always full
    )
    checkouts: list[object] = []
    engine = app.state.container.engine()
    event.listen(engine.sync_engine, "checkout", lambda *args: checkouts.append(args))
    async with app.router.lifespan_context(app), http_client(app) as client:
        # No token either: a shed request is refused before it is even authenticated.
        response = await client.request(method, path, **body)
    assert (response.status_code, response.json()["error"]["code"]) == (
        503,
        "SERVICE_UNAVAILABLE",
    )
    assert response.headers["Retry-After"] == "1"
    assert checkouts == []  # no database connection was taken
