"""The production dependency set alone (what the Docker image installs) runs the service."""

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from shared.data.provisioning import drop_database
from tests.e2e.server import ROOT, start_server
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e


def uv() -> list[str]:
    """uv as `make install` leaves it: on PATH, or as a module of the system Python."""
    found = shutil.which("uv")
    return [found] if found else [shutil.which("python3") or sys.executable, "-m", "uv"]


async def test_uv_sync_no_dev_alone_starts_the_app_in_production_mode(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    venv = tmp_path / "production-venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    await asyncio.to_thread(
        subprocess.run,
        [*uv(), "sync", "--frozen", "--no-dev"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert not (venv / "bin" / "pytest").exists()  # really without the dev tools

    url = make_url(postgres.url).set(database=f"modulith_prod_{uuid.uuid4().hex[:12]}")
    try:
        server = await start_server(
            url.render_as_string(hide_password=False),
            tmp_path / "server.log",
            python=str(venv / "bin" / "python"),
            ENVIRONMENT="production",
            SECRET_KEY="a-production-secret-of-at-least-32-characters",
            EMAIL_BACKEND="smtp",
            SMTP_HOST="127.0.0.1",
        )
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            ready = await client.get("/ready")
            docs = await client.get("/docs")
        assert ready.status_code == 200
        assert ready.json()["checks"]["database"] == "ok"
        assert docs.status_code == 404  # production: docs off
        assert await server.stop() == 0
    finally:
        await drop_database(url)
