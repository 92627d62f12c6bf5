"""Preparing a database before serving: create it if missing, migrate it to head.

Used by `manage.py` (behind `make run` and `make migrate`) and by the test harness, which
creates, migrates and drops a uniquely named database per run.
"""

import socket
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from .db import connect_asyncpg

# What connecting, creating or migrating raises when the database cannot be used: the server
# unreachable, refusing us, or refusing what we ask. Anything else is a bug (a traceback).
DATABASE_ERRORS = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    sa_exc.DBAPIError,
)

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
MAINTENANCE_DATABASE = "postgres"


def _quoted_database_name(url: URL) -> str:
    if not url.database:
        raise ValueError(f"{url!r} names no database")
    return '"' + url.database.replace('"', '""') + '"'


async def _connect_to_maintenance_db(url: URL) -> asyncpg.Connection:
    return await connect_asyncpg(url.set(database=MAINTENANCE_DATABASE))


async def create_database_if_missing(url: URL) -> bool:
    """Create the database `url` names; True if it was created, False if it existed."""
    name = _quoted_database_name(url)
    connection = await _connect_to_maintenance_db(url)
    try:
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", url.database
        )
        if exists:
            return False
        try:
            await connection.execute(f"CREATE DATABASE {name}")
        except asyncpg.DuplicateDatabaseError:  # another process won the race: fine
            return False
        return True
    finally:
        await connection.close()


async def check_reachable(url: URL) -> None:
    """Connect to the database `url` names and close again: raises one of DATABASE_ERRORS."""
    connection = await connect_asyncpg(url)
    await connection.close()


async def drop_database(url: URL) -> None:
    name = _quoted_database_name(url)
    connection = await _connect_to_maintenance_db(url)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await connection.close()


def alembic_config(url: URL) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = url.render_as_string(hide_password=False)
    return config


def upgrade_to_head(url: URL) -> None:
    """`alembic upgrade heads`: every module's branch (blocking, and runs its own event loop:
    call it from a thread when an event loop is already running)."""
    command.upgrade(alembic_config(url), "heads")


def database_error_line(url: URL, error: BaseException) -> str:
    """One line for an operator: where (host and port from DATABASE_URL, never its password)
    and why, for one of DATABASE_ERRORS."""
    cause = error.orig if isinstance(error, sa_exc.DBAPIError) and error.orig else error
    user, database = url.username or "postgres", url.database
    if isinstance(cause, ConnectionRefusedError):
        reason = "connection refused (is PostgreSQL running and listening there?)"
    elif isinstance(cause, socket.gaierror):
        reason = f"the host name does not resolve ({cause.strerror})"
    elif isinstance(cause, TimeoutError):
        reason = "no answer in time (a firewall, or the wrong host or port?)"
    elif isinstance(cause, asyncpg.InsufficientPrivilegeError):
        reason = f'database "{database}" does not exist and user "{user}" may not create it'
    elif isinstance(cause, asyncpg.InvalidCatalogNameError):
        reason = f"{cause} (and it could not be created)"
    else:
        reason = str(cause) or type(cause).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return f"Database error: {url.host or 'localhost'}:{url.port or 5432}: {reason}"
