"""The benchmark's own database on the local PostgreSQL: created fresh, migrated, seeded."""

import asyncio
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL

from shared.data.db import asyncpg_dsn
from shared.data.provisioning import create_database_if_missing, drop_database, upgrade_to_head

SEED_ITEMS = 10_000
SAMPLE_IDS = 1_000

# created_at one second apart, so the list's order is the seed's order.
SEED = """
INSERT INTO items (id, title, description, price, quantity, tags, owner_id, created_at,
                   updated_at, version)
SELECT gen_random_uuid(), 'Item ' || n, 'Seeded item number ' || n, (n % 1000) + 0.99,
       n % 100, ARRAY['tag' || (n % 20)], $1, now() - make_interval(secs => n),
       now() - make_interval(secs => n), 1
FROM generate_series(1, $2) AS n
"""


async def recreate(url: URL) -> None:
    await drop_database(url)
    await create_database_if_missing(url)
    await asyncio.to_thread(upgrade_to_head, url)  # alembic runs an event loop of its own


async def seed_items(url: URL, owner_id: uuid.UUID, ids_file: Path) -> None:
    """SEED_ITEMS items for the owner; a sample of their ids written one per line."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(SEED, owner_id, SEED_ITEMS)
        await connection.execute("ANALYZE items")
        rows = await connection.fetch(
            "SELECT id FROM items WHERE owner_id = $1 ORDER BY random() LIMIT $2",
            owner_id,
            SAMPLE_IDS,
        )
    finally:
        await connection.close()
    await asyncio.to_thread(ids_file.write_text, "".join(f"{row['id']}\n" for row in rows))
