"""Starting and stopping the whole topology (see the package's docstring)."""

import asyncio
import json
import math
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL

from devtools.local_servers.haproxy import Edge, edge
from devtools.local_servers.mailbox import Mailbox, smtp_server
from devtools.local_servers.pgbouncer import pgbouncer
from devtools.local_servers.ports import closed_port
from devtools.local_servers.postgres import PrivatePostgres, private_postgres, streaming_replica
from devtools.local_servers.redis import PrivateRedis, private_redis
from shared.settings import load_settings

from .processes import ROOT, ServiceProcess

DATABASE = "app"
# PgBouncer's connections to the primary, shared by every API node and worker.
SERVER_CONNECTIONS = 40


@dataclass
class Shape:
    """How many of each, and where the edge listens (make stack's variables)."""

    api_nodes: int = 3
    job_workers: int = 2
    edge_port: int = 8080
    workers_per_node: int = 1  # gunicorn's workers in each API node (WORKERS)
    # Settings every API node and worker gets on top of the stack's own (make stack-check
    # lifts the rate limits: its load comes from one address).
    settings: dict[str, str] = field(default_factory=dict)


@dataclass
class Stack:
    primary: PrivatePostgres
    replica: PrivatePostgres
    database_url: URL  # the primary, directly: migrations, checks
    redis: PrivateRedis
    mailbox: Mailbox
    nodes: list[ServiceProcess]
    workers: list[ServiceProcess]
    edge: Edge
    directory: Path


def _url(server: PrivatePostgres) -> URL:
    return server.url(DATABASE)


@contextmanager
def _servers() -> Iterator[tuple[PrivatePostgres, PrivatePostgres, URL, PrivateRedis, Mailbox]]:
    with ExitStack() as servers:
        # Replication needs no setting beyond PostgreSQL's defaults (wal_level=replica,
        # max_wal_senders=10) and initdb's trust lines for 127.0.0.1.
        primary = servers.enter_context(private_postgres(max_connections="100"))
        replica = servers.enter_context(streaming_replica(primary))
        bouncer = servers.enter_context(
            pgbouncer(_url(primary), server_connections=SERVER_CONNECTIONS)
        )
        redis = servers.enter_context(private_redis())
        mailbox = servers.enter_context(smtp_server())
        yield primary, replica, bouncer, redis, mailbox


def _environment(
    shape: Shape, bouncer: URL, replica: URL, redis: PrivateRedis, mailbox: Mailbox
) -> dict[str, str]:
    return {
        **os.environ,
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": bouncer.render_as_string(hide_password=False),
        "DB_PGBOUNCER": "true",
        # Directly: PgBouncer pools the primary's connections (a deployment may put one in
        # front of each replica too).
        "DATABASE_READ_URL": replica.render_as_string(hide_password=False),
        "REDIS_URL": redis.url,
        "TRUSTED_PROXIES": json.dumps(["127.0.0.1"]),  # the edge
        "WORKERS": str(shape.workers_per_node),
        "WORKER_IN_PROCESS": "false",  # the job workers do the jobs
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.port),
        "SMTP_STARTTLS": "false",
        "LOG_FORMAT": "json",
        "HOST": "127.0.0.1",
        **shape.settings,
    }


async def _migrate(environment: dict[str, str], primary: URL, log: Path) -> None:
    """Once, on the primary directly (migrations never go through PgBouncer or a replica)."""
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "manage.py",
            "migrate",
            cwd=ROOT,
            env={**environment, "DATABASE_URL": primary.render_as_string(hide_password=False)},
            stdout=output,
            stderr=output,
        )
        if await asyncio.wait_for(process.wait(), 120) != 0:
            raise RuntimeError(f"the migration failed; its log: {log}")


@asynccontextmanager
async def running_stack(shape: Shape, directory: Path) -> AsyncIterator[Stack]:
    """The whole topology, started in order and stopped in reverse; logs in `directory`."""
    with _servers() as (primary, replica, bouncer, redis, mailbox):
        environment = _environment(shape, bouncer, _url(replica), redis, mailbox)
        await _migrate(environment, _url(primary), directory / "migrate.log")
        nodes = [
            ServiceProcess(
                f"node{number}",
                ["serve", "--skip-migrations"],
                {**environment, "PORT": str(port)},
                directory / f"node{number}.log",
                port,
            )
            for number, port in ((n, closed_port()) for n in range(1, shape.api_nodes + 1))
        ]
        workers = [
            ServiceProcess(f"worker{n}", ["worker"], environment, directory / f"worker{n}.log")
            for n in range(1, shape.job_workers + 1)
        ]
        try:
            # One at a time: each imports the app, and the machine may have two cores.
            for process in (*nodes, *workers):
                await process.start()
            limits = load_settings()  # the edge's, from this environment as a node reads its own
            with edge(
                {node.name: node.port or 0 for node in nodes},
                port=shape.edge_port,
                max_header_bytes=limits.max_header_bytes,
                client_header_timeout_seconds=math.ceil(limits.client_header_timeout_seconds),
                directory=directory,
            ) as front:
                yield Stack(
                    primary,
                    replica,
                    _url(primary),
                    redis,
                    mailbox,
                    nodes,
                    workers,
                    front,
                    directory,
                )
        finally:
            await asyncio.gather(*(process.stop() for process in (*nodes, *workers)))
            for process in (*nodes, *workers):
                process.kill()  # any that did not stop in time
