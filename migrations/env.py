"""Alembic environment: async engine, DATABASE_URL from the settings, every module's models.

Programmatic callers (the test harness, `manage.py`) pass the URL as
`config.attributes["database_url"]`; the alembic command line reads the settings.
`-x module=items` (what `make migration M=items` passes) limits autogenerate to that module's
tables, so its revision holds its own changes only.
"""

import asyncio
import importlib
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import shared.data.db  # noqa: F401  (sets the constraint naming convention before models load)
from main import MODULES
from shared.data.db import PGBOUNCER_SAFE_CONNECT_ARGS
from shared.jobs.schema import ENGINE_TABLES
from shared.module import tables_by_module
from shared.settings import load_settings

config = context.config

# Old and new code serve together while a deploy migrates: a migration that queues for a lock
# behind a long transaction would block every query queued behind it in turn. Each run gives up
# instead (and the deploy with it, to be retried), after LOCK_TIMEOUT waiting for a lock, or
# STATEMENT_TIMEOUT on one statement. A migration that must run longer (a backfill in
# batches, say) sets its own with `op.execute("SET LOCAL statement_timeout = '10min'")`.
LOCK_TIMEOUT = "5s"
STATEMENT_TIMEOUT = "60s"
database_url: str | None = config.attributes.get("database_url")
if database_url is None:  # the alembic CLI: configure its logging, read the settings
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    database_url = load_settings().database_url
DATABASE_URL: str = database_url

for module in MODULES:
    if module.models:
        importlib.import_module(module.models)
target_metadata = SQLModel.metadata


only_module = context.get_x_argument(as_dictionary=True).get("module")
if only_module is not None:
    tables = tables_by_module(MODULES)
    if only_module not in tables:
        raise SystemExit(f"-x module={only_module}: no module of that name declares tables")
    ONLY_TABLES: frozenset[str] | None = tables[only_module]
else:
    ONLY_TABLES = None


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """With `-x module=…`, the model side is limited to that module's tables too."""
    if ONLY_TABLES is None or type_ != "table":
        return True
    return name in ONLY_TABLES


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate compares SQLModel's tables only: the job queue's tables are PgQueuer's,
    created by their own migration and checked against PgQueuer's own plan."""
    if type_ != "table":
        return True
    if ONLY_TABLES is not None:
        return name in ONLY_TABLES
    return name not in ENGINE_TABLES


def _bounded() -> None:
    """The run's limits, for its whole transaction (and in `upgrade --sql`'s script, where
    `make lint`'s squawk looks for them)."""
    context.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    context.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")


def run_migrations_offline() -> None:
    context.configure(
        url=DATABASE_URL,
        target_metadata=target_metadata,
        literal_binds=True,
        include_name=include_name,
        include_object=include_object,
    )
    with context.begin_transaction():
        _bounded()
        context.run_migrations()


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        include_object=include_object,
    )
    with context.begin_transaction():
        _bounded()
        context.run_migrations()


async def run_migrations_online() -> None:
    # One short-lived connection: no statement cache to lose, and safe behind PgBouncer.
    engine = create_async_engine(
        DATABASE_URL, poolclass=pool.NullPool, connect_args=PGBOUNCER_SAFE_CONNECT_ARGS
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
