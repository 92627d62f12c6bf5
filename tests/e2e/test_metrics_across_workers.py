"""With two worker processes, one scrape of /metrics reports the sum over both (prometheus
client's multiprocess mode), whichever worker answers it."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import PRODUCTION, RunningServer, serving_fresh_database
from tests.metrics import sample
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e
REQUESTS = 120
SCRAPES = 6


@pytest.fixture
async def two_workers(postgres: PostgresServer, tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with serving_fresh_database(
        postgres.url, tmp_path / "log", **PRODUCTION, WORKERS="2"
    ) as served:
        yield served[0]


async def test_one_scrape_sums_the_counters_of_both_workers(two_workers: RunningServer) -> None:
    # A new connection per request: the kernel spreads them over both workers' accept loops.
    fresh = httpx.Limits(max_keepalive_connections=0)
    # /ready: a route no start-up probe has counted already.
    async with httpx.AsyncClient(base_url=two_workers.base_url, limits=fresh) as client:
        for _ in range(REQUESTS):
            assert (await client.get("/ready")).status_code == 200
        # A request is counted just after its answer is sent: let the last one land.
        await asyncio.sleep(0.5)
        scrapes = [(await client.get("/metrics")).text for _ in range(SCRAPES)]

    ready = {"method": "GET", "route": "/ready", "status": "200"}
    counts = [sample(text, "http_requests_total", ready) for text in scrapes]
    assert counts == [REQUESTS] * SCRAPES  # every request, in every scrape, by either worker
    pools = [sample(text, "db_pool_size") for text in scrapes]
    assert set(pools) == {20.0}  # two pools of 10, summed
    pids = {line for line in two_workers.output().splitlines() if "Started server process" in line}
    assert len(pids) == 2
