"""Clients creating items non-stop against a running server, every answer kept: the load of
tests/e2e/test_database_faults.py and of the fault run (bench/faults.py)."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import httpx

from tests.accounts import bearer, login, new_email, register

WRITERS = 32


@dataclass
class WriteLoad:
    client: httpx.AsyncClient
    headers: dict[str, str]
    created: list[str] = field(default_factory=list)  # ids answered 201
    refused: list[httpx.Response] = field(default_factory=list)  # any other answer
    errors: list[httpx.TransportError] = field(default_factory=list)  # no answer at all
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    writers: list[asyncio.Task[None]] = field(default_factory=list)

    async def _writer(self, number: int) -> None:
        sent = 0
        while not self.stop.is_set():
            sent += 1
            body = {"title": f"writer {number} item {sent}", "price": "1.00"}
            try:
                response = await self.client.post("/api/v1/items", json=body, headers=self.headers)
            except httpx.TransportError as error:
                self.errors.append(error)
                await asyncio.sleep(0.05)
                continue
            if response.status_code == 201:
                self.created.append(response.json()["id"])
            else:
                self.refused.append(response)
                await asyncio.sleep(0.05)  # as a client backing off on 503

    async def created_since(self, count: int, within: float) -> bool:
        """True once more than `count` items were created, within `within` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if len(self.created) > count:
                return True
            await asyncio.sleep(0.05)
        return False

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.writers)

    def statuses(self) -> Counter[int | str]:
        """Answers by status, and requests that got none by the error's type."""
        counted: Counter[int | str] = Counter({201: len(self.created)} if self.created else {})
        counted.update(response.status_code for response in self.refused)
        counted.update(type(error).__name__ for error in self.errors)
        return counted


@asynccontextmanager
async def write_load(base_url: str) -> AsyncIterator[WriteLoad]:
    """WRITERS clients of a new account writing until the block ends (or `finish()`)."""
    limits = httpx.Limits(max_connections=WRITERS + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        email = new_email("writer")
        await register(client, email)
        load = WriteLoad(client, bearer((await login(client, email))["access_token"]))
        load.writers = [asyncio.create_task(load._writer(number)) for number in range(WRITERS)]
        try:
            yield load
        finally:
            await load.finish()


async def stored_ids(dsn: str) -> set[str]:
    """The ids of every item in the database at `dsn`."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        return {str(row["id"]) for row in await connection.fetch("SELECT id FROM items")}
    finally:
        await connection.close()
