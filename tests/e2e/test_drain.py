"""SIGTERM under load with SHUTDOWN_DRAIN_SECONDS: `/ready` turns 503 at once, every request
during the drain is answered, then the listening socket closes (new connections are refused,
not accepted and reset) and what is in flight finishes. The production entry (gunicorn),
with one worker and with two."""

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.accounts import PASSWORD, bearer, login, new_email, register
from tests.e2e.server import PRODUCTION, RunningServer, serving_fresh_database
from tests.e2e.test_shutdown import slow_body
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e
DRAIN_SECONDS = 2.0
CLIENTS = 8
READY_TURNS_WITHIN_SECONDS = 1.0  # "at once": well within a load balancer's poll


@pytest.fixture
async def server(
    postgres: PostgresServer, tmp_path: Path, workers: int
) -> AsyncIterator[RunningServer]:
    environment = {
        **PRODUCTION,
        "SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "WORKERS": str(workers),
    }
    async with serving_fresh_database(postgres.url, tmp_path / "log", **environment) as served:
        yield served[0]


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_drains_with_ready_503_and_no_request_lost(server: RunningServer) -> None:
    failures: list[str] = []
    answered_during_drain: list[int] = []
    ready: list[tuple[float, int]] = []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        email = new_email("drain")
        await register(client, email)
        headers = bearer((await login(client, email))["access_token"])
        signalled = 0.0
        load_until = float("inf")

        async def steady() -> None:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as own:
                while time.monotonic() < load_until:
                    try:
                        response = await own.get("/api/v1/users/me", headers=headers)
                    except httpx.TransportError as error:
                        failures.append(repr(error))
                        continue
                    if signalled:
                        answered_during_drain.append(response.status_code)

        async def poll_ready() -> None:
            while time.monotonic() < load_until:
                response = await client.get("/ready")
                ready.append((time.monotonic(), response.status_code))
                await asyncio.sleep(0.05)

        clients = [asyncio.create_task(steady()) for _ in range(CLIENTS)]
        poller = asyncio.create_task(poll_ready())
        await asyncio.sleep(0.5)
        signalled = time.monotonic()
        load_until = signalled + DRAIN_SECONDS - 0.3  # a load balancer has stopped by now
        server.process.send_signal(signal.SIGTERM)
        await asyncio.gather(*clients, poller)

        # Sent just before the drain ends, still coming after it: finished, not cut.
        slow = asyncio.create_task(
            client.post(
                "/api/v1/auth/register",
                content=slow_body(
                    f'{{"email": "{new_email("late")}", "password": "{PASSWORD}"}}'.encode()
                ),
                headers={"Content-Type": "application/json"},
            )
        )
        await asyncio.sleep(max(0.0, signalled + DRAIN_SECONDS + 0.5 - time.monotonic()))
        refused_at = time.monotonic()
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as fresh:
                await fresh.get("/health")
        refused_after = time.monotonic() - refused_at
        late = await slow
    exit_code = await server.stop()

    assert failures == []
    assert answered_during_drain and set(answered_during_drain) == {200}
    since_signal = [(at - signalled, status) for at, status in ready if at >= signalled]
    first_503 = min(after for after, status in since_signal if status == 503)
    assert first_503 < READY_TURNS_WITHIN_SECONDS
    assert {status for after, status in since_signal if after >= first_503} == {503}
    assert refused_after < 1.0  # refused at once: nothing accepts and then hangs
    assert late.status_code == 201
    assert exit_code == 0
