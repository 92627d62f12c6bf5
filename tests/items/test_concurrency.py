"""Races on items, against real PostgreSQL with real commits."""

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.accounts import Account, create_account
from tests.conftest import forget_committed_user, http_client
from tests.items.helpers import ITEMS, create_item

ROUNDS = 5


@pytest.fixture
async def committed(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine
) -> AsyncIterator[tuple[httpx.AsyncClient, Account]]:
    app = app_factory()
    async with app.router.lifespan_context(app), http_client(app) as client:
        owner = await create_account(client, "racer")
        yield client, owner
    await forget_committed_user(engine, "id = :id", id=owner.id)  # cascades to items, keys


async def test_two_patches_with_the_same_if_match_one_wins_one_gets_412(
    committed: tuple[httpx.AsyncClient, Account],
) -> None:
    client, owner = committed
    for _ in range(ROUNDS):
        item = await create_item(client, owner)
        url, headers = f"{ITEMS}/{item['id']}", owner.headers | {"If-Match": '"1"'}
        first, second = await asyncio.gather(
            client.patch(url, headers=headers, json={"title": "first"}),
            client.patch(url, headers=headers, json={"title": "second"}),
        )
        assert sorted([first.status_code, second.status_code]) == [200, 412]
        winner = first if first.status_code == 200 else second
        stored = (await client.get(url, headers=owner.headers)).json()
        assert (stored["title"], stored["version"]) == (winner.json()["title"], 2)


async def test_two_creates_with_the_same_idempotency_key_make_one_item(
    committed: tuple[httpx.AsyncClient, Account], engine: AsyncEngine
) -> None:
    client, owner = committed
    body = {"title": "espresso", "price": "12.50"}
    for round_number in range(ROUNDS):
        headers = owner.headers | {"Idempotency-Key": f"retry-{round_number}"}
        answers = await asyncio.gather(
            *(client.post(ITEMS, headers=headers, json=body) for _ in range(3))
        )
        assert [answer.status_code for answer in answers] == [201, 201, 201]
        assert len({answer.json()["id"] for answer in answers}) == 1
    async with engine.connect() as connection:
        count = await connection.execute(
            text("SELECT count(*) FROM items WHERE owner_id = :id"), {"id": owner.id}
        )
        assert count.scalar_one() == ROUNDS
