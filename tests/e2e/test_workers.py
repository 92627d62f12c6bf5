"""Several workers starting together: the start-up work that must happen once, happens once."""

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shared.data.provisioning import drop_database
from tests.accounts import PASSWORD
from tests.e2e.server import PRODUCTION, start_server
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e
WORKERS = 3


async def test_workers_starting_together_create_one_first_superuser(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = make_url(postgres.url).set(database=f"modulith_workers_{uuid.uuid4().hex[:12]}")
    email = "root@example.com"
    try:
        server = await start_server(
            url.render_as_string(hide_password=False),
            tmp_path / "server.log",
            **PRODUCTION,
            WORKERS=str(WORKERS),
            FIRST_SUPERUSER_EMAIL=email,
            FIRST_SUPERUSER_PASSWORD=PASSWORD,
        )
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            for _ in range(WORKERS * 3):  # spread over the workers
                assert (await client.get("/health")).status_code == 200
            login = await client.post(
                "/api/v1/auth/jwt/login", data={"username": email, "password": PASSWORD}
            )
        assert login.status_code == 200
        assert await server.stop() == 0
        output = server.output()
        # None killed as hung while importing the app (gunicorn's worker timeout).
        assert "WORKER TIMEOUT" not in output, output
        assert (
            output.count('"Started server process') >= WORKERS
            or output.count("Started server process") >= WORKERS
        ), output
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            superusers = await connection.execute(
                text("SELECT count(*) FROM users WHERE is_superuser")
            )
            assert superusers.scalar_one() == 1
        await engine.dispose()
    finally:
        await drop_database(url)
