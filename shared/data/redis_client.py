"""The app's Redis client (optional: REDIS_URL unset means no Redis)."""

from redis.asyncio import Redis

from ..settings import Settings

# Redis is a fast local dependency: waiting longer than this means it is in trouble.
REDIS_TIMEOUT_SECONDS = 1.0


def make_redis(settings: Settings) -> Redis | None:
    if settings.redis_url is None:
        return None
    # Connects lazily, on first use.
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )
