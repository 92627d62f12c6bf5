"""Password hashing (Argon2, through fastapi-users' pwdlib helper) off the event loop.

One Argon2 hash blocks for ~0.1 s; on the loop that stalls every request in the process.
The work runs in worker threads (argon2 releases the GIL), at most `max_concurrency` at a
time, so a login storm cannot take every core from the event loop.
"""

import os

import anyio
from fastapi_users.password import PasswordHelper
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


def default_concurrency() -> int:
    return max(1, (os.cpu_count() or 2) - 1)  # leave a core to the event loop


class PasswordHasher:
    def __init__(self, max_concurrency: int | None = None) -> None:
        self.helper = PasswordHelper()
        self.limiter = anyio.CapacityLimiter(max_concurrency or default_concurrency())

    @classmethod
    def at_minimal_cost(cls) -> "PasswordHasher":
        """The real Argon2 code path at its lowest cost, for tests and benchmarks that create
        many accounts or measure what surrounds the hash. Never for production."""
        hasher = cls()
        hasher.helper = PasswordHelper(
            PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
        )
        return hasher

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.helper.hash, password, limiter=self.limiter)

    async def verify_and_update(self, plain: str, hashed: str) -> tuple[bool, str | None]:
        return await anyio.to_thread.run_sync(
            self.helper.verify_and_update, plain, hashed, limiter=self.limiter
        )
