import os
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from devtools.local_servers.ports import closed_port
from modules.health.router import CHECK_TIMEOUT_SECONDS, Liveness
from tests.conftest import http_client, request_once
from tests.network import silent_server

# The real Redis the suite checks against (CI starts one on 127.0.0.1).
LOCAL_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def test_health_answers_ok_without_touching_the_database(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = app_factory(database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/x")
    async with http_client(app) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_health_is_served_as_the_schema_describes_it(client: httpx.AsyncClient) -> None:
    answer = await client.get("/health")
    documented = (await client.get("/openapi.json")).json()["paths"]["/health"]["get"]
    assert answer.json() == Liveness().model_dump()
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-request-id"] and answer.headers["x-frame-options"] == "DENY"
    assert "200" in documented["responses"]
    # Other methods: 405, with what is allowed.
    refused = await client.delete("/health")
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET")


async def test_ready_reports_database_ok_and_redis_disabled_without_redis_url(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "disabled", "replica": "disabled"},
    }


async def test_ready_checks_a_real_redis(app_factory: Callable[..., FastAPI]) -> None:
    response = await request_once(app_factory(redis_url=LOCAL_REDIS), "GET", "/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "replica": "disabled"}


async def test_ready_is_503_with_the_failing_check_named_when_redis_is_down(
    app_factory: Callable[..., FastAPI],
) -> None:
    response = await request_once(
        app_factory(redis_url=f"redis://127.0.0.1:{closed_port()}/0"), "GET", "/ready"
    )
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "ok", "redis": "error", "replica": "disabled"}
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["error"]["request_id"] == response.headers["x-request-id"]


async def test_ready_is_503_when_the_database_refuses_connections(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = app_factory(database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/x")
    response = await request_once(app, "GET", "/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "error",
        "redis": "disabled",
        "replica": "disabled",
    }


async def test_ready_gives_up_on_a_wedged_database_and_redis_within_the_check_timeout(
    app_factory: Callable[..., FastAPI],
) -> None:
    async with silent_server() as database_port, silent_server() as redis_port:
        app = app_factory(
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{database_port}/x",
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            db_connect_timeout=30,  # longer than the check: the check's own bound must act
        )
        started = time.monotonic()
        response = await request_once(app, "GET", "/ready")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "error",
        "redis": "error",
        "replica": "disabled",
    }
    # Both checks run concurrently, each bounded: not 30 s, not the sum of the two.
    assert elapsed < CHECK_TIMEOUT_SECONDS + 1.5


async def test_metrics_count_requests_by_route_template_never_by_raw_path(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    things = APIRouter(tags=["things"])

    @things.get("/things/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.include_router(things, prefix="/api/v1")
    for thing_id in (1, 2, 3):
        assert (await client.get(f"/api/v1/things/{thing_id}")).status_code == 200
    await client.get("/health")
    await client.get("/no/such/path/12345")

    text = (await client.get("/metrics")).text
    assert (
        'http_requests_total{method="GET",route="/api/v1/things/{thing_id}",status="200"} 3.0'
        in text
    )
    assert 'http_requests_total{method="GET",route="/health",status="200"} 1.0' in text
    assert 'http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert "/no/such/path" not in text and "/things/1" not in text
    assert 'http_request_duration_seconds_count{method="GET",route="/health"} 1.0' in text
    # The scrape itself is in flight while the gauge is read.
    assert "http_requests_in_flight 1.0" in text


async def test_metrics_expose_the_database_pool(app_factory: Callable[..., FastAPI]) -> None:
    app = app_factory(db_pool_size=3)
    async with app.router.lifespan_context(app), http_client(app) as client:
        await client.get("/ready")  # opens one pooled connection
        text = (await client.get("/metrics")).text
    assert "db_pool_size 3.0" in text
    assert "db_pool_checked_in 1.0" in text
    assert "db_pool_checked_out 0.0" in text
    assert "db_pool_overflow 0.0" in text
    assert text.startswith("# HELP") or "# HELP" in text


METRICS_TOKEN = "a-scraper-token-of-some-length"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {METRICS_TOKEN}", f"Bearer {METRICS_TOKEN}x", "Bearer"],
)
async def test_with_a_metrics_token_metrics_need_it(
    app_factory: Callable[..., FastAPI], authorization: str | None
) -> None:
    app = app_factory(metrics_token=METRICS_TOKEN)
    headers = {"Authorization": authorization} if authorization else {}
    response = await request_once(app, "GET", "/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "http_requests_total" not in response.text


async def test_with_a_metrics_token_the_scraper_reads_metrics(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = app_factory(metrics_token=METRICS_TOKEN)
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    response = await request_once(app, "GET", "/metrics", headers=headers)
    assert response.status_code == 200
    assert "db_pool_size" in response.text
    # The other probes stay open: load balancers send no token.
    assert (await request_once(app, "GET", "/health")).status_code == 200


async def test_without_a_metrics_token_metrics_are_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 200
