"""The real server, started as `make run` starts it, seen from outside over TCP."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlalchemy.engine import URL, make_url

from shared.data.provisioning import drop_database
from tests.accounts import PASSWORD
from tests.e2e.browser import chromium, load
from tests.e2e.server import RunningServer, start_server
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def fresh_database_url(postgres: PostgresServer) -> AsyncIterator[URL]:
    """A database that does not exist yet: `make run` must create and migrate it."""
    url = make_url(postgres.url).set(database=f"modulith_e2e_{uuid.uuid4().hex[:12]}")
    yield url
    await drop_database(url)


@pytest.fixture(scope="module")
async def server(
    fresh_database_url: URL, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServer]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    server = await start_server(fresh_database_url.render_as_string(hide_password=False), log)
    yield server
    await server.stop()


async def test_make_run_creates_and_migrates_the_database_then_serves(
    server: RunningServer, fresh_database_url: URL
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        health = await client.get("/health")
        ready = await client.get("/ready")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "disabled", "replica": "disabled"},
    }
    output = server.output()
    assert "database_created" in output and "database_migrated" in output
    assert f"API docs: {server.base_url}/docs" in output


async def test_the_real_server_sends_the_security_headers_and_no_server_header(
    server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get("/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "server" not in response.headers  # uvicorn's own `Server: uvicorn` is off


async def test_the_server_logs_one_json_line_per_request_with_its_id(
    server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        # From 127.0.0.1, which uvicorn would trust by default: TRUSTED_PROXIES is empty here.
        await client.get(
            "/health", headers={"X-Request-ID": "e2e-line", "X-Forwarded-For": "203.0.113.7"}
        )
    await asyncio.sleep(0.2)  # let the line reach the log file
    lines = [line for line in server.output().splitlines() if '"e2e-line"' in line]
    assert len(lines) == 1
    assert '"logger": "app.access"' in lines[0] and '"route": "/health"' in lines[0]
    assert '"client": "127.0.0.1"' in lines[0]  # the spoofed address was not believed


async def test_sigterm_stops_the_server_cleanly(postgres: PostgresServer, tmp_path: Path) -> None:
    url = make_url(postgres.url).set(database=f"modulith_e2e_{uuid.uuid4().hex[:12]}")
    try:
        server = await start_server(url.render_as_string(hide_password=False), tmp_path / "log")
        assert await server.stop() == 0
        assert "Application shutdown complete" in server.output()
    finally:
        await drop_database(url)


def login_headers(server: RunningServer) -> dict[str, str]:
    email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        response = client.post(
            "/api/v1/auth/jwt/login", data={"username": email, "password": PASSWORD}
        )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# Bounded: examples per operation and mode. Every route a module adds is fuzzed here too.
FUZZ_EXAMPLES = 50


def fuzz(
    operation: schemathesis.APIOperation,  # type: ignore[type-arg]
    mode: GenerationMode,
    headers: dict[str, str],
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
        case.call_and_validate(
            headers=headers,
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            timeout=10,
        )

    try:
        run()
    except Unsatisfiable:
        # No input of this operation can be invalid (no parameters, or only free-form
        # strings): there is nothing for the negative mode to send.
        if mode is not GenerationMode.NEGATIVE:
            raise


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_route_survives_an_outside_fuzzer(
    server: RunningServer, mode: GenerationMode
) -> None:
    """Valid and invalid inputs alike: never a 5xx, and every answer matches the schema."""
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert operations
    for operation in operations:
        # Secured routes are fuzzed as a logged-in user too, each with an account of its own
        # (a fuzzed DELETE /users/me must not leave the next operation without one).
        headers = login_headers(server) if operation.definition.raw.get("security") else {}
        fuzz(operation, mode, headers)


# ReDoc's sidebar shows a "docs by Redocly" badge it always fetches from Redocly's CDN, with
# no option to turn it off: the policy refuses it, and the page hides the broken image.
REDOC_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium (.ci/run installs it)")
@pytest.mark.parametrize(
    ("page", "rendered", "assets"),
    [
        ("/docs", 'data-path="/api/v1/audit"', {"/docs/assets/swagger-ui-bundle.js"}),
        ("/redoc", "The audit trail", {"/docs/assets/redoc.standalone.js"}),
    ],
)
def test_the_docs_render_in_a_browser_loading_nothing_from_another_origin(
    server: RunningServer, tmp_path: Path, page: str, rendered: str, assets: set[str]
) -> None:
    loaded = load(f"{server.base_url}{page}", tmp_path)
    assert rendered in loaded.dom  # the UI ran, under its policy, and drew the schema
    paths = {request.removeprefix(server.base_url) for request in loaded.requests}
    assert assets | {"/openapi.json"} <= paths
    assert all(request.startswith(f"{server.base_url}/") for request in loaded.requests)
    assert set(loaded.blocked) <= {REDOC_BADGE}
