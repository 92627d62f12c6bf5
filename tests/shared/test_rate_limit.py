"""Rate limits through HTTP: the default budget per user or address, the stricter per-address
limits, proxies, counters shared through the real Redis, and Redis failing."""

import asyncio
import gc
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

import shared.edge.rate_limit
from devtools.local_servers.ports import closed_port
from devtools.local_servers.redis import PrivateRedis, private_redis
from tests.accounts import Account, bearer
from tests.conftest import bind_to_connection, build_app, http_client, make_settings
from tests.network import silent_server

LOCAL_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ITEMS = "/api/v1/items"
LOGIN = "/api/v1/auth/jwt/login"

OpenClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def limited(database_url: URL, connection: AsyncConnection) -> OpenClient:
    """A client of an app with the given settings, seeing the test's accounts."""

    @asynccontextmanager
    async def open_client(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = build_app(make_settings(database_url, **overrides))
        bind_to_connection(app, connection)
        async with app.router.lifespan_context(app), http_client(app) as client:
            yield client

    return open_client


def unique_address() -> dict[str, str]:
    """A client address of its own (through a trusted proxy), so counters kept in the shared
    Redis by other tests and runs never meet this test's."""
    octets = uuid.uuid4().bytes[:3]
    return {"X-Forwarded-For": "10." + ".".join(str(octet) for octet in octets)}


def login_form(email: str = "nobody@example.com") -> dict[str, str]:
    return {"username": email, "password": "wrong-password"}


async def test_the_default_budget_counts_every_api_request_of_an_address(
    limited: OpenClient,
) -> None:
    async with limited(rate_limit_default="3/minute") as client:
        answers = [await client.get(ITEMS) for _ in range(4)]

    # Unauthenticated requests count too: the limit is checked before anything else.
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    assert [r.headers["X-RateLimit-Limit"] for r in answers] == ["3"] * 4
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    now = time.time()
    assert now < int(answers[0].headers["X-RateLimit-Reset"]) <= now + 61

    refused = answers[-1]
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert refused.json()["error"]["request_id"] == refused.headers["X-Request-ID"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


async def test_the_budget_is_one_across_routes_and_methods(limited: OpenClient) -> None:
    async with limited(rate_limit_default="2/minute") as client:
        first = await client.get(ITEMS)
        second = await client.post(LOGIN, data=login_form())
        third = await client.get(f"{ITEMS}/{uuid.uuid4()}")
    assert (first.status_code, second.status_code, third.status_code) == (401, 400, 429)


async def test_probes_and_metrics_are_not_limited(limited: OpenClient) -> None:
    async with limited(rate_limit_default="1/minute") as client:
        answers = [await client.get(path) for path in ["/health", "/ready", "/metrics"] * 3]
    assert {r.status_code for r in answers} == {200}
    assert not any("X-RateLimit-Limit" in r.headers for r in answers)


async def test_an_authenticated_client_is_counted_by_user_not_by_address(
    limited: OpenClient, alice: Account, bob: Account
) -> None:
    async with limited(rate_limit_default="2/minute") as client:
        alice_answers = [await client.get(ITEMS, headers=alice.headers) for _ in range(3)]
        bob_answer = await client.get(ITEMS, headers=bob.headers)
        anonymous = await client.get(ITEMS)
        # A token that does not verify is counted by address, not by the user it names.
        forged = alice.tokens["access_token"][:-4] + "AAAA"
        forged_answer = await client.get(ITEMS, headers=bearer(forged))

    assert [r.status_code for r in alice_answers] == [200, 200, 429]
    assert bob_answer.status_code == 200
    assert anonymous.status_code == 401
    assert forged_answer.status_code == 401  # the address's second request, still in budget


async def test_login_has_a_stricter_limit_per_address_whatever_the_account(
    limited: OpenClient,
) -> None:
    async with limited(rate_limit_login="2/minute") as client:
        logins = [await client.post(LOGIN, data=login_form(f"u{i}@example.com")) for i in range(3)]
        other_route = await client.get(ITEMS)

    assert [r.status_code for r in logins] == [400, 400, 429]
    # The headers describe the route's stricter limit.
    assert [r.headers["X-RateLimit-Remaining"] for r in logins] == ["1", "0", "0"]
    assert logins[-1].json()["error"]["code"] == "RATE_LIMITED"
    assert other_route.status_code == 401  # the default budget is far from spent


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/auth/register", {"email": "x@example.com", "password": "short"}),
        ("/api/v1/auth/forgot-password", {"email": "x@example.com"}),
        ("/api/v1/auth/request-verify-token", {"email": "x@example.com"}),
    ],
)
async def test_sensitive_routes_have_a_stricter_limit_per_address_and_route(
    limited: OpenClient, path: str, body: dict[str, str]
) -> None:
    async with limited(rate_limit_sensitive="1/minute") as client:
        first = await client.post(path, json=body)
        second = await client.post(path, json=body)
        another_sensitive_route = await client.post(
            "/api/v1/auth/reset-password" if "register" not in path else "/api/v1/auth/verify",
            json={"token": "x", "password": "long-enough-password"},
        )
        reset = await client.post("/api/v1/auth/forgot-password", json=body)

    assert first.status_code != 429
    assert second.status_code == 429
    assert another_sensitive_route.status_code != 429  # not a limited route
    # Each sensitive route keeps its own counter.
    assert reset.status_code == (429 if "forgot" in path else 202)


async def test_a_spoofed_x_forwarded_for_does_not_open_a_new_budget(limited: OpenClient) -> None:
    async with limited(rate_limit_login="1/minute", trusted_proxies="[]") as client:
        first = await client.post(LOGIN, data=login_form(), headers=unique_address())
        second = await client.post(LOGIN, data=login_form(), headers=unique_address())
    assert (first.status_code, second.status_code) == (400, 429)


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(
    limited: OpenClient,
) -> None:
    async with limited(rate_limit_login="1/minute", trusted_proxies="127.0.0.1") as client:
        client_a, client_b = unique_address(), unique_address()
        answers = [
            await client.post(LOGIN, data=login_form(), headers=client_a),
            await client.post(LOGIN, data=login_form(), headers=client_b),
            await client.post(LOGIN, data=login_form(), headers=client_a),
        ]
    assert [r.status_code for r in answers] == [400, 400, 429]


async def test_an_ipv6_client_is_counted_by_its_64(limited: OpenClient) -> None:
    prefix = f"2001:db8:{uuid.uuid4().hex[:4]}"  # 48 bits of its own: no other test's /64
    async with limited(rate_limit_login="2/minute", trusted_proxies="127.0.0.1") as client:
        answers = [
            await client.post(LOGIN, data=login_form(), headers={"X-Forwarded-For": address})
            for address in (f"{prefix}:1::1", f"{prefix}:1:ffff::2", f"{prefix}:1:0:1:0:3")
        ]
        next_64 = await client.post(
            LOGIN, data=login_form(), headers={"X-Forwarded-For": f"{prefix}:2::1"}
        )
    # Three addresses of one /64 share its budget; the next /64 has its own.
    assert [r.status_code for r in answers] == [400, 400, 429]
    assert next_64.status_code == 400


async def test_rate_limit_enabled_false_turns_every_limit_off(limited: OpenClient) -> None:
    async with limited(
        rate_limit_enabled=False, rate_limit_default="1/minute", rate_limit_login="1/minute"
    ) as client:
        answers = [await client.post(LOGIN, data=login_form()) for _ in range(3)]
        schema = (await client.get("/openapi.json")).json()
    assert [r.status_code for r in answers] == [400, 400, 400]
    assert "X-RateLimit-Limit" not in answers[0].headers
    # Only the per-account login throttle (not a rate limit) still answers 429: on the
    # routes that check a password or a code.
    documented = [
        path
        for path, operations in schema["paths"].items()
        for operation in operations.values()
        if "429" in operation["responses"]
    ]
    assert sorted(documented) == [
        "/api/v1/auth/2fa/disable",
        "/api/v1/auth/jwt/login",
        "/api/v1/auth/jwt/login/2fa",
        "/api/v1/auth/reauth",
        "/api/v1/users/me",
    ]


async def test_the_schema_documents_429_on_api_routes_only(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "429" in paths["/api/v1/items"]["get"]["responses"]
    assert "429" in paths["/api/v1/auth/jwt/login"]["post"]["responses"]
    assert "429" not in paths["/health"]["get"]["responses"]


async def test_two_app_instances_share_one_budget_through_redis(
    limited: OpenClient, alice: Account
) -> None:
    """Two processes behind a load balancer: the same user alternates between them."""
    settings = {"redis_url": LOCAL_REDIS, "rate_limit_default": "3/minute"}
    async with limited(**settings) as first, limited(**settings) as second:
        answers = [
            await instance.get(ITEMS, headers=alice.headers)
            for instance in (first, second, first, second)
        ]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]


async def test_per_address_limits_are_shared_through_redis_too(limited: OpenClient) -> None:
    settings = {"redis_url": LOCAL_REDIS, "rate_limit_login": "1/minute"}
    address = unique_address()
    async with (
        limited(trusted_proxies="127.0.0.1", **settings) as first,
        limited(trusted_proxies="127.0.0.1", **settings) as second,
    ):
        answers = [
            await instance.post(LOGIN, data=login_form(), headers=address)
            for instance in (first, second)
        ]
    assert [r.status_code for r in answers] == [400, 429]


async def test_with_redis_down_requests_are_served_and_limited_in_memory(
    limited: OpenClient,
) -> None:
    redis_url = f"redis://127.0.0.1:{closed_port()}/0"
    async with limited(redis_url=redis_url, rate_limit_default="2/minute") as client:
        started = time.monotonic()
        answers = [await client.get(ITEMS) for _ in range(3)]
        elapsed = time.monotonic() - started
        ready = await client.get("/ready")

    assert [r.status_code for r in answers] == [401, 401, 429]
    assert elapsed < 3  # refused at once: no retries, no hanging
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"] == "error"


async def test_a_wedged_redis_neither_hangs_requests_nor_blocks_the_event_loop(
    limited: OpenClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long storage timeout makes a blocked loop impossible to miss.
    monkeypatch.setattr(shared.edge.rate_limit, "STORAGE_TIMEOUT_SECONDS", 1.0)
    longest_stall = 0.0

    async def measure_stalls() -> None:
        nonlocal longest_stall
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.005)
            longest_stall = max(longest_stall, time.monotonic() - before - 0.005)

    async with silent_server() as redis_port:
        settings = {"redis_url": f"redis://127.0.0.1:{redis_port}/0"}
        async with limited(rate_limit_default="2/minute", **settings) as client:
            # A full collection in a process that ran the whole suite can pause for long too.
            gc.collect()
            gc.disable()
            try:
                ticker = asyncio.create_task(measure_stalls())
                await asyncio.sleep(0.02)  # the ticker is running
                started = time.monotonic()
                answers = [await client.get(ITEMS) for _ in range(3)]
                elapsed = time.monotonic() - started
                ticker.cancel()
            finally:
                gc.enable()

    assert [r.status_code for r in answers] == [401, 401, 429]
    # One wait for the silent Redis (1 s), then in-memory counters.
    assert elapsed < 3
    # The wait happened in a worker thread: the loop kept running meanwhile.
    assert longest_stall < 0.5


@pytest.fixture
def own_redis() -> Iterator[PrivateRedis]:
    with private_redis() as redis:
        yield redis


CONCURRENT_CLIENTS = 32


@pytest.mark.parametrize("fault", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "wedged"])
async def test_redis_failing_under_concurrent_checks_costs_no_request_a_5xx(
    limited: OpenClient, own_redis: PrivateRedis, fault: signal.Signals
) -> None:
    # Many checks wait on Redis in worker threads when it fails: each must fall back to the
    # in-memory counters by itself (slowapi switches on the first failure only).
    statuses: list[int] = []
    stop, loaded = asyncio.Event(), asyncio.Event()
    async with limited(redis_url=own_redis.url) as client:

        async def steady() -> None:
            while not stop.is_set():
                statuses.append((await client.get(ITEMS)).status_code)
                if len(statuses) >= CONCURRENT_CLIENTS:
                    loaded.set()

        clients = [asyncio.create_task(steady()) for _ in range(CONCURRENT_CLIENTS)]
        await asyncio.wait_for(loaded.wait(), timeout=10)  # counting in Redis, under load
        served_before = len(statuses)
        own_redis.process.send_signal(fault)
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.gather(*clients)

    assert served_before >= CONCURRENT_CLIENTS
    assert len(statuses) > served_before  # served after the fault too
    assert set(statuses) == {401}  # no 5xx: only the answer of an unauthenticated request
