"""The FastAPI floor: the reference's four requests (bench/reference.py: the same statements on
the same tables, no auth, no rate limit, no middleware) written the way FastAPI's documentation
shows them: the connection from a `Depends`, request and response bodies as pydantic models
(`response_model`), served by uvicorn. What FastAPI itself costs on this machine; the
service's figures are divided by it too.

Serve: `uvicorn --factory bench.floor:create_app` with REFERENCE_DSN (a plain postgresql://
DSN) and REFERENCE_OWNER_ID (whose items it lists and creates) set.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Request, status
from pydantic import BaseModel

from .reference import GET, INSERT, LIST, POOL


class ItemIn(BaseModel):
    title: str
    description: str | None = None
    price: Decimal
    quantity: int = 0
    tags: list[str] = []


class ItemOut(BaseModel):
    id: uuid.UUID
    title: str
    description: str | None
    price: Decimal
    quantity: int
    tags: list[str]
    owner_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    version: int


class ItemPage(BaseModel):
    data: list[ItemOut]
    next_cursor: str | None


class Health(BaseModel):
    status: str = "ok"


async def get_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.pool.acquire() as connection:
        yield connection


Connection = Annotated[asyncpg.Connection, Depends(get_connection)]


def create_app() -> FastAPI:
    dsn = os.environ["REFERENCE_DSN"]
    owner_id = uuid.UUID(os.environ["REFERENCE_OWNER_ID"])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, **POOL)  # as the reference's
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> Health:
        return Health()

    @app.get("/api/v1/items")
    async def list_items(connection: Connection, limit: int = 20) -> ItemPage:
        rows = await connection.fetch(LIST, owner_id, limit + 1)
        data = [ItemOut.model_validate(dict(row)) for row in rows[:limit]]
        next_cursor = str(rows[limit - 1]["id"]) if len(rows) > limit else None
        return ItemPage(data=data, next_cursor=next_cursor)

    @app.get("/api/v1/items/{item_id}")
    async def get_item(item_id: uuid.UUID, connection: Connection) -> ItemOut:
        row = await connection.fetchrow(GET, item_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND)
        return ItemOut.model_validate(dict(row))

    @app.post("/api/v1/items", status_code=status.HTTP_201_CREATED)
    async def create_item(body: ItemIn, connection: Connection) -> ItemOut:
        row = await connection.fetchrow(
            INSERT,
            uuid.uuid4(),
            body.title,
            body.description,
            body.price,
            body.quantity,
            body.tags,
            owner_id,
            datetime.now(UTC),
        )
        return ItemOut.model_validate(dict(row))

    return app
