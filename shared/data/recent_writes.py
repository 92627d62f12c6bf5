"""Read-your-writes: who wrote in the last READ_YOUR_WRITES_SECONDS, kept in Redis so every
API process knows.

A client is known by its address and, with a bearer token, by the token's owner (the user,
or the API key) as the rate limits count it: a write marks both, and a read from either
goes to the primary. The address covers a client that logs in and then reads with its new
token; the owner covers one account used from several addresses.
"""

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request

from ..edge.client import bearer_token, client_address
from ..edge.rate_limit import TokenOwner
from ..settings import Settings

KEY_PREFIX = "recent_write:"
logger = structlog.get_logger(__name__)


class RecentWriters:
    def __init__(self, redis: Redis, settings: Settings, token_owner: TokenOwner) -> None:
        self._redis = redis
        self._window_ms = round(settings.read_your_writes_seconds * 1000)
        self._token_owner = token_owner

    async def mark(self, request: Request) -> None:
        """`request`'s client wrote: it reads from the primary for the window."""
        if not self._window_ms:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in self._keys(request):
                    pipe.set(key, 1, px=self._window_ms)
                await pipe.execute()
        except RedisError as error:
            # Its next reads may miss this write for up to the replica's lag; nothing is lost.
            logger.warning("recent_write_not_marked", error=repr(error))

    async def wrote_recently(self, request: Request) -> bool:
        if not self._window_ms:
            return False
        try:
            return bool(await self._redis.exists(*self._keys(request)))
        except RedisError as error:
            logger.warning("recent_writes_unknown", error=repr(error))
            return True  # not known: the primary, which is never behind

    def _keys(self, request: Request) -> list[str]:
        keys = [f"{KEY_PREFIX}address:{client_address(request) or 'unknown'}"]
        token = bearer_token(request)
        if token:
            owner = self._token_owner(token)
            if owner is not None:
                keys.append(KEY_PREFIX + owner)
        return keys
