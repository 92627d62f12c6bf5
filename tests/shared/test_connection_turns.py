"""ConnectionTurns: requests get the pool's connections in the order they asked for them."""

import asyncio

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from shared.data.db import ConnectionTurns
from tests.conftest import make_settings


def turns(database_url: URL, size: int, timeout: float) -> ConnectionTurns:
    settings = make_settings(
        database_url,
        db_pool_size=size,
        db_max_overflow=0,
        db_pool_timeout=timeout,
    )
    return ConnectionTurns(settings)


async def test_a_released_turn_goes_to_the_longest_waiter_not_to_a_newcomer(
    database_url: URL,
) -> None:
    one = turns(database_url, size=1, timeout=5)
    served: list[str] = []

    async def take(name: str) -> None:
        async with one.turn():
            served.append(name)
            await asyncio.sleep(0.01)

    async with one.turn():
        waiting = asyncio.create_task(take("waiting"))
        await asyncio.sleep(0.01)  # it is queued now
    # Released: the newcomer asks before the waiter has had a chance to run. (The pool's
    # asyncio.Queue would hand it the connection: it takes what is there, waiters or not.)
    await asyncio.gather(take("newcomer"), waiting)
    assert served == ["waiting", "newcomer"]


async def test_waiting_longer_than_the_pool_timeout_is_the_pools_timeout_error(
    database_url: URL,
) -> None:
    one = turns(database_url, size=1, timeout=0.2)
    async with one.turn():
        with pytest.raises(sa_exc.TimeoutError, match="DB_POOL_TIMEOUT"):
            async with one.turn():
                pass
    async with one.turn():  # the timed-out waiter left no turn taken
        pass
