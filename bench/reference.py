"""The bare-stack reference: Starlette, an asyncpg pool and orjson serving the benchmark's four
requests with the same queries on the same tables, without auth, validation or middleware.
The practical limit for Python on this machine; every figure of the service is divided by it.

Serve: `uvicorn --factory bench.reference:create_app` with REFERENCE_DSN (a plain postgresql://
DSN) and REFERENCE_OWNER_ID (whose items it lists and creates) set.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

COLUMNS = "id, title, description, price, quantity, tags, owner_id, created_at, updated_at, version"
LIST = f"SELECT {COLUMNS} FROM items WHERE owner_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
GET = f"SELECT {COLUMNS} FROM items WHERE id = $1"
INSERT = (
    "INSERT INTO items (id, title, description, price, quantity, tags, owner_id, created_at,"
    f" updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 1) RETURNING {COLUMNS}"
)


# The service's pool: DB_POOL_SIZE 10 + DB_MAX_OVERFLOW 10. Connections idle for 2 s close,
# so the three apps of `make bench` fit PostgreSQL's max_connections with 2 workers each
# while one of them is under load.
POOL: dict[str, Any] = {"min_size": 0, "max_size": 20, "max_inactive_connection_lifetime": 2.0}


def _default(value: Any) -> str:
    # asyncpg's UUID subclass is not uuid.UUID itself, which orjson would take as it is.
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    raise TypeError


def _json(body: Any, status_code: int = 200) -> Response:
    content = orjson.dumps(body, default=_default)
    return Response(content, status_code=status_code, media_type="application/json")


def create_app() -> Starlette:
    dsn = os.environ["REFERENCE_DSN"]
    owner_id = uuid.UUID(os.environ["REFERENCE_OWNER_ID"])
    pools: list[asyncpg.Pool] = []  # the one pool, once the lifespan has opened it

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        pools.append(await asyncpg.create_pool(dsn, **POOL))
        yield
        await pools.pop().close()

    async def health(_: Request) -> Response:
        return _json({"status": "ok"})

    async def list_items(request: Request) -> Response:
        limit = int(request.query_params.get("limit", "20"))
        rows = await pools[0].fetch(LIST, owner_id, limit + 1)
        data = [dict(row) for row in rows[:limit]]
        next_cursor = str(rows[limit - 1]["id"]) if len(rows) > limit else None
        return _json({"data": data, "next_cursor": next_cursor})

    async def get_item(request: Request) -> Response:
        row = await pools[0].fetchrow(GET, uuid.UUID(request.path_params["item_id"]))
        if row is None:
            return _json({"error": "not found"}, 404)
        return _json(dict(row))

    async def create_item(request: Request) -> Response:
        body = orjson.loads(await request.body())
        row = await pools[0].fetchrow(
            INSERT,
            uuid.uuid4(),
            body["title"],
            body.get("description"),
            Decimal(str(body["price"])),
            body.get("quantity", 0),
            body.get("tags", []),
            owner_id,
            datetime.now(UTC),
        )
        return _json(dict(row), 201)

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/api/v1/items", list_items),
            Route("/api/v1/items", create_item, methods=["POST"]),
            Route("/api/v1/items/{item_id}", get_item),
        ],
        lifespan=lifespan,
    )
