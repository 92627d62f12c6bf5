"""The queue engine's tables: created by an alembic migration, never by the engine itself.

Alembic's autogenerate leaves them out (they are not SQLModel tables); the drift check for
them is PgQueuer's own plan: after `alembic upgrade head`, the installed PgQueuer must find
nothing to change (tests/test_migrations.py). When a PgQueuer upgrade changes its schema,
that check fails and `pgq upgrade --plan` prints the statements for the next migration.
"""

from pgqueuer import Queries
from pgqueuer.db import AsyncpgDriver
from sqlalchemy.engine import URL

from ..data.db import connect_asyncpg

ENGINE_TABLES = frozenset({"pgqueuer", "pgqueuer_log", "pgqueuer_schedules", "pgqueuer_statistics"})


async def engine_schema_changes(url: URL) -> tuple[str, ...]:
    """The statements PgQueuer would still run on this database (none when in step)."""
    connection = await connect_asyncpg(url)
    try:
        plan = await Queries(AsyncpgDriver(connection)).plan_upgrade()
    finally:
        await connection.close()
    return plan.statements
