"""Rate limits (README, "Deployment"), counted by slowapi: in Redis when REDIS_URL is set, so
every worker and replica shares one budget, in memory otherwise.

Every API route counts against the client's default budget (RATE_LIMIT_DEFAULT, one budget
across all routes). The client is the user of a valid access token or an API key the service
minted, read without a database query, else the client's address (an IPv6 client's /64). An
endpoint marked `@stricter_limit("login")` or `@stricter_limit("sensitive")` also counts against
a per-address limit of its own.

Counted by one dependency, `enforce_rate_limit`, that `create_app` adds to the routes of every
rate-limited module (not the probes). It runs after routing, so it knows the route. slowapi's
own ASGI middleware looks endpoints up in `app.routes`, where FastAPI's included routers no
longer list them, and would let every request through; its endpoint decorator would count on
the event loop, where a Redis round trip blocks every other request.

slowapi talks to Redis synchronously. So with Redis the dependency is one FastAPI runs in its
thread pool, with short socket timeouts and no retries; when Redis fails, slowapi moves the
counters to memory and tries Redis again with a backoff, and every count that failed on Redis
meanwhile is taken again in memory. Requests are served, never hung nor failed; /ready reports
Redis.
"""

import ipaddress
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar, cast

import structlog
from fastapi import Request, Response
from limits import RateLimitItem
from limits.errors import StorageError
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.wrappers import Limit
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import RateLimited
from ..settings import Settings
from .client import bearer_token, client_address

StricterRule = Literal["login", "sensitive"]
# Whom a bearer token's requests count against ("user:…", "api_key:…"), or None.
TokenOwner = Callable[[str], str | None]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
Counter = Callable[..., None]

# Redis on the request path: waiting longer than this means it is in trouble, and the
# in-memory counters take over.
STORAGE_TIMEOUT_SECONDS = 0.1
_RULE_ATTRIBUTE = "__stricter_rate_limit__"
# What the Redis storage raises when Redis is down, slow or wedged.
_STORAGE_ERRORS = (RedisError, StorageError, OSError)
logger = structlog.get_logger(__name__)
_HEADERS_STATE_KEY = "rate_limit_headers"
_WINDOW_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


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
        self._limiter = Limiter(
            key_func=self._address,
            storage_uri=settings.redis_url or "memory://",
            storage_options=_redis_options() if settings.redis_url else {},
            strategy="fixed-window",
            in_memory_fallback_enabled=True,
            headers_enabled=True,
            key_prefix="modulith",
        )
        default = self._limiter.shared_limit(
            settings.rate_limit_default, "api", key_func=self._client
        )
        # The stricter limit is filed first, so the X-RateLimit-* headers describe it
        # (slowapi reports the first of the limits with the shortest period). Login and its
        # second step share one budget; each sensitive route counts on its own (a `limit`,
        # not a `shared_limit`, is counted per path).
        login = self._limiter.shared_limit(settings.rate_limit_login, "login")
        sensitive = self._limiter.limit(settings.rate_limit_sensitive)
        self._counters: dict[StricterRule | None, Counter] = {
            None: default(_counter("api")),
            "login": default(login(_counter("login"))),
            "sensitive": default(sensitive(_counter("sensitive"))),
        }

    def count(self, request: Request) -> None:
        """Counts the request; raises RateLimited (429) once a limit is used up."""
        rule = getattr(request.scope["route"].endpoint, _RULE_ATTRIBUTE, None)
        # slowapi writes the X-RateLimit-* headers of its count on the `response` it is given
        # (headers_enabled): here a scratch one, from which RateLimitHeadersMiddleware puts
        # them on whatever response the request ends with.
        scratch = Response()
        try:
            _count_falling_back(self._counters[rule], request, scratch)
        except RateLimitExceeded as refused:
            # slowapi types the refused limit as optional; its constructor always sets it.
            refused_limit = cast("Limit", refused.limit)
            raise RateLimited(headers=_refusal_headers(refused_limit.limit)) from None
        request.scope.setdefault("state", {})[_HEADERS_STATE_KEY] = _window_headers(scratch)

    def _client(self, request: Request) -> str:
        token = bearer_token(request)
        if token:
            owner = self._token_owner(token)
            if owner is not None:
                return owner
        return self._address(request)

    @staticmethod
    def _address(request: Request) -> str:
        # The peer address, or the X-Forwarded-For client when the peer is a trusted proxy
        # (ProxyHeadersMiddleware has already rewritten it).
        return f"address:{counted_address(client_address(request))}"


def counted_address(address: str | None) -> str:
    """What a client is counted by: its address, or for IPv6 its /64, since one subscriber
    commonly holds a whole /64 and could otherwise open a budget per address."""
    if address is None:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # not an address (a test client's name): counted as it is
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


def _counter(scope: str) -> Counter:
    """A function for slowapi to decorate: it counts each call against the limits it was
    decorated with, the way it counts calls of an endpoint (slowapi issue #23 shows the
    pattern for FastAPI dependencies). slowapi files limits under the function's name, so each
    rule has a function of its own."""

    def counted(request: Request, response: Response) -> None:
        return None

    counted.__name__ = counted.__qualname__ = f"count[{scope}]"
    return counted


def _count_falling_back(counter: Counter, request: Request, scratch: Response) -> None:
    """`counter`, counted in memory when Redis fails under it.

    slowapi moves to its in-memory counters on the first Redis error, but only the count that
    hit it first is taken again there: counts that were waiting on Redis at the same time, in
    other threads, re-raise. Those count again here, in memory by now.
    """
    try:
        counter(request=request, response=scratch)
    except _STORAGE_ERRORS as first:
        logger.warning("rate_limit_storage_failed", error=repr(first))
        try:
            counter(request=request, response=scratch)
        except _STORAGE_ERRORS as second:
            # Redis came back and failed again between the two: let this one through
            # uncounted rather than fail the request.
            logger.warning("rate_limit_not_counted", error=repr(second))


def _window_headers(scratch: Response) -> dict[str, str]:
    headers = {name: scratch.headers[name] for name in _WINDOW_HEADERS if name in scratch.headers}
    if "X-RateLimit-Reset" in headers:
        # slowapi writes the reset time plus one second, with a fraction; the schema declares
        # whole seconds, and the second slowapi adds keeps them from being early.
        headers["X-RateLimit-Reset"] = str(int(float(headers["X-RateLimit-Reset"])))
    return headers


def _refusal_headers(limit: RateLimitItem) -> dict[str, str]:
    """The headers of a 429. slowapi has no public way to read the refused counter's window,
    so they say the longest wait: the whole window, which is never too early."""
    window = limit.get_expiry()
    return {
        "Retry-After": str(window),
        "X-RateLimit-Limit": str(limit.amount),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(math.ceil(time.time()) + window),
    }


def _redis_options() -> dict[str, Any]:
    # Passed to redis.Redis. redis-py retries timeouts 3 times by default: here one failure
    # is enough to move to the in-memory counters.
    return {
        "socket_connect_timeout": STORAGE_TIMEOUT_SECONDS,
        "socket_timeout": STORAGE_TIMEOUT_SECONDS,
        "retry": Retry(NoBackoff(), 0),
    }


def enforce_rate_limit(settings: Settings) -> Callable[[Request], Awaitable[None] | None]:
    """The dependency that counts a request: a `def` one, which FastAPI runs in its thread
    pool, when counters are in Redis (slowapi talks to Redis synchronously); an `async def`
    one for in-memory counters, a dictionary update cheaper than a thread hop."""
    return _count_in_thread if settings.redis_url else _count_in_loop


def _count_in_thread(request: Request) -> None:
    _rate_limits(request).count(request)


async def _count_in_loop(request: Request) -> None:
    _rate_limits(request).count(request)


def _rate_limits(request: Request) -> RateLimits:
    rate_limits: RateLimits = request.app.state.container.rate_limits()
    return rate_limits


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
