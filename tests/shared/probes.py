"""Scaffolding for the database kernel's own tests (test_db.py): a probe
table (the kernel owns no table; made with raw SQL, dropped afterwards), an app with the
test's probe routes, and requests timed while another connection holds a table lock."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import http_client


@asynccontextmanager
async def probe_table(engine: AsyncEngine, name: str, columns: str) -> AsyncIterator[str]:
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE {name} ({columns})"))
    try:
        yield name
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE {name}"))


def probe_app(build: Callable[..., FastAPI], router: APIRouter, **settings: object) -> FastAPI:
    app = build(**settings)
    app.include_router(router, prefix="/api/v1")
    return app


async def answers_behind_a_table_lock(
    app: FastAPI, engine: AsyncEngine, table: str, path: str, requests: int = 3
) -> list[tuple[httpx.Response, float]]:
    """`requests` concurrent GETs of `path`, each with its time, while a migration-like
    transaction holds `table` in ACCESS EXCLUSIVE mode."""
    async with engine.connect() as migration, migration.begin():
        await migration.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        async with app.router.lifespan_context(app), http_client(app) as client:

            async def timed() -> tuple[httpx.Response, float]:
                started = time.monotonic()
                response = await client.get(path)
                return response, time.monotonic() - started

            return await asyncio.gather(*(timed() for _ in range(requests)))
