"""Rate limits (README, "Deployment"), counted by slowapi: in Redis when REDIS_URL is set, so
every worker and replica shares one budget, in memory otherwise.

Every API route counts against the client's default budget (RATE_LIMIT_DEFAULT, one budget
across all routes). The client is the user id of a valid access token, read without a database
query, else the client's address. An endpoint marked `@stricter_limit("login")` or
`@stricter_limit("sensitive")` also counts against a per-address limit of its own.

Enforced by one dependency, `enforce_rate_limit`, that `create_app` adds to the routes of every
rate-limited module (not the probes). It runs after routing, so it knows the route. slowapi's
own ASGI middleware looks endpoints up in `app.routes`, where FastAPI's included routers no
longer list them, and would let every request through.

slowapi talks to Redis synchronously. So with Redis the check runs in a worker thread, with
short socket timeouts and no retries; when Redis fails, slowapi moves the counters to memory
and tries Redis again with a backoff, and every check that failed on Redis meanwhile counts
again in memory. Requests are served, never hung nor failed; /ready reports Redis.
"""

import math
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import anyio.to_thread
import structlog
from fastapi import Request
from limits.errors import StorageError
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import RateLimited
from ..settings import Settings
from .client import client_address

StricterRule = Literal["login", "sensitive"]
TokenOwner = Callable[[str], uuid.UUID | None]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

# Redis on the request path: waiting longer than this means it is in trouble, and the
# in-memory counters take over.
STORAGE_TIMEOUT_SECONDS = 0.1
_RULE_ATTRIBUTE = "__stricter_rate_limit__"
# What the Redis storage raises when Redis is down, slow or wedged.
_STORAGE_ERRORS = (RedisError, StorageError, OSError)
logger = structlog.get_logger(__name__)
_HEADERS_STATE_KEY = "rate_limit_headers"


def stricter_limit(rule: StricterRule) -> Callable[[Endpoint], Endpoint]:
    """Marks an endpoint for a per-address limit on top of the default budget:
    `login` (RATE_LIMIT_LOGIN) or `sensitive` (RATE_LIMIT_SENSITIVE, counted per route)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _RULE_ATTRIBUTE, rule)
        return endpoint

    return mark


class RateLimits:
    def __init__(self, settings: Settings, token_owner: TokenOwner) -> None:
        self._token_owner = token_owner
        self._in_redis = settings.redis_url is not None
        self._default = settings.rate_limit_default
        self._stricter: dict[StricterRule, str] = {
            "login": settings.rate_limit_login,
            "sensitive": settings.rate_limit_sensitive,
        }
        self._limiter = Limiter(
            key_func=self._address,
            storage_uri=settings.redis_url or "memory://",
            storage_options=_redis_options() if self._in_redis else {},
            strategy="fixed-window",
            in_memory_fallback_enabled=True,
            key_prefix="modulith",
        )
        self._checks: dict[str, Callable[[Request], None]] = {}

    async def enforce(self, request: Request) -> None:
        """Counts the request; raises RateLimited (429) once a limit is used up."""
        route = request.scope["route"]
        check = self._check_for(getattr(route.endpoint, _RULE_ATTRIBUTE, None), route.path)
        if self._in_redis:
            headers = await anyio.to_thread.run_sync(self._count, check, request)
        else:
            headers = self._count(check, request)  # a dict lookup: cheaper than a thread hop
        request.scope.setdefault("state", {})[_HEADERS_STATE_KEY] = headers

    def _count(self, check: Callable[[Request], None], request: Request) -> dict[str, str]:
        try:
            self._check_falling_back(check, request)
        except RateLimitExceeded:
            headers, reset_at = self._window(request)
            headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
            raise RateLimited(headers=headers) from None
        return self._window(request)[0]

    def _check_falling_back(self, check: Callable[[Request], None], request: Request) -> None:
        """`check`, counted in memory when Redis fails under it.

        slowapi moves to its in-memory counters on the first Redis error, but only the check
        that hit it first counts again there: checks that were waiting on Redis at the same
        time, in other threads, re-raise. Those count again here, in memory by now.
        """
        try:
            check(request)
        except _STORAGE_ERRORS as first:
            logger.warning("rate_limit_storage_failed", error=repr(first))
            try:
                check(request)
            except _STORAGE_ERRORS as second:
                # Redis came back and failed again between the two: let this one through
                # uncounted rather than fail the request.
                logger.warning("rate_limit_not_counted", error=repr(second))

    def _window(self, request: Request) -> tuple[dict[str, str], float]:
        """The X-RateLimit-* headers of the request's count, and when its window resets."""
        # slowapi leaves the limit it reports on (and its counter's key) here.
        limit, identifiers = request.state.view_rate_limit
        try:
            reset_at, remaining = self._limiter.limiter.get_window_stats(limit, *identifiers)
        except Exception:  # Redis failed between the count and this read: no headers
            return {}, time.time() + 1
        headers = {
            "X-RateLimit-Limit": str(limit.amount),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(math.ceil(reset_at)),
        }
        return headers, reset_at

    def _check_for(self, rule: StricterRule | None, path: str) -> Callable[[Request], None]:
        scope = "api" if rule is None else rule if rule == "login" else f"{rule}:{path}"
        check = self._checks.get(scope)
        if check is None:
            check = self._checks[scope] = self._build_check(rule, scope)
        return check

    def _build_check(self, rule: StricterRule | None, scope: str) -> Callable[[Request], None]:
        """A function slowapi counts every call of, against the default budget and the rule."""

        def check(request: Request) -> None:
            return None

        # slowapi files the limits of a function under its name: one name per scope.
        check.__name__ = check.__qualname__ = f"check[{scope}]"
        limited: Callable[[Request], None] = check
        if rule is not None:
            # Filed first, so the X-RateLimit-* headers describe it (slowapi reports the first
            # of the limits with the shortest period).
            stricter = self._limiter.shared_limit(
                self._stricter[rule], scope, key_func=self._address
            )
            limited = stricter(limited)
        default = self._limiter.shared_limit(self._default, "api", key_func=self._client)
        counted: Callable[[Request], None] = default(limited)
        return counted

    def _client(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            owner = self._token_owner(token)
            if owner is not None:
                return f"user:{owner}"
        return self._address(request)

    @staticmethod
    def _address(request: Request) -> str:
        # The peer address, or the X-Forwarded-For client when the peer is a trusted proxy
        # (ProxyHeadersMiddleware has already rewritten it).
        return f"address:{client_address(request) or 'unknown'}"


def _redis_options() -> dict[str, Any]:
    # Passed to redis.Redis. redis-py retries timeouts 3 times by default: here one failure
    # is enough to move to the in-memory counters.
    return {
        "socket_connect_timeout": STORAGE_TIMEOUT_SECONDS,
        "socket_timeout": STORAGE_TIMEOUT_SECONDS,
        "retry": Retry(NoBackoff(), 0),
    }


async def enforce_rate_limit(request: Request) -> None:
    rate_limits: RateLimits = request.app.state.container.rate_limits()
    await rate_limits.enforce(request)


class RateLimitHeadersMiddleware:
    """Puts the X-RateLimit-* headers of the request's count on its response, whatever the
    status (headers set through a dependency's Response parameter reach 2xx bodies only)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = state.get(_HEADERS_STATE_KEY)
                if headers:
                    response_headers = MutableHeaders(scope=message)
                    for name, value in headers.items():
                        response_headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
