"""Password hashing (Argon2, through fastapi-users' pwdlib helper) off the event loop, and the
admission that keeps a flood of password checks from starving every other route.

One Argon2 hash blocks for ~0.1 s; on the loop that stalls every request in the process.
The work runs in worker threads (argon2 releases the GIL), at most `max_concurrency` at a
time, so a login storm cannot take every core from the event loop.

A route that hashes takes its turn (`admission`) before it takes a database connection.
While as many requests are admitted as the threads will start soon (`max_concurrency` hashing,
`WAITING_PER_THREAD` times as many waiting, and never more than half the database
connections), the next is refused at once with `503 SERVICE_UNAVAILABLE` and `Retry-After`:
it neither queues holding a connection nor gets evaluated, so a login flood leaves the pool
to the other routes.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Request
from fastapi_users.password import PasswordHelper
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from shared.errors import ServiceUnavailable

# Requests that may wait for each hashing thread: about a second of Argon2 each, so a burst
# of sign-ups or logins from real users is served, not shed.
WAITING_PER_THREAD = 8


def default_concurrency() -> int:
    return max(1, (os.cpu_count() or 2) - 1)  # leave a core to the event loop


class HashingBusy(ServiceUnavailable):
    detail = "Too many password checks at once: retry after Retry-After seconds"


class PasswordHasher:
    def __init__(
        self,
        max_concurrency: int | None = None,
        *,
        max_admitted: int | None = None,
        database_connections: int | None = None,
    ) -> None:
        concurrency = max_concurrency or default_concurrency()
        self.helper = PasswordHelper()
        self.limiter = anyio.CapacityLimiter(concurrency)
        if max_admitted is None:
            max_admitted = concurrency * (1 + WAITING_PER_THREAD)
            if database_connections is not None:
                max_admitted = max(1, min(max_admitted, database_connections // 2))
        self.max_admitted = max_admitted
        self._admitted = 0  # one event loop per process: no lock needed between check and add

    @classmethod
    def at_minimal_cost(cls, *, max_admitted: int | None = None) -> "PasswordHasher":
        """The real Argon2 code path at its lowest cost, for tests and benchmarks that create
        many accounts or measure what surrounds the hash. Never for production."""
        hasher = cls(max_admitted=max_admitted)
        hasher.helper = PasswordHelper(
            PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
        )
        return hasher

    @asynccontextmanager
    async def admission(self) -> AsyncIterator[None]:
        """A request's turn at hashing, held until it is done; `HashingBusy` when there are
        already as many as the threads will start soon."""
        if self._admitted >= self.max_admitted:
            raise HashingBusy(headers={"Retry-After": "1"})
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.helper.hash, password, limiter=self.limiter)

    async def verify_and_update(self, plain: str, hashed: str) -> tuple[bool, str | None]:
        return await anyio.to_thread.run_sync(
            self.helper.verify_and_update, plain, hashed, limiter=self.limiter
        )


async def admit_password_work(request: Request) -> AsyncIterator[None]:
    """The dependency a hashing route lists first in `dependencies=[...]`, so it runs before
    anything takes a database connection."""
    hasher: PasswordHasher = request.app.state.container.users.password_hasher()
    async with hasher.admission():
        yield
