"""Where a request's CPU goes: the service's layers measured in one process, no HTTP.

    uv run python -m bench.breakdown

On a database of its own (the benchmark's name + `_breakdown`: created, seeded, dropped),
with 16 requests in flight:
CPU time of this process per request (time.process_time, so other processes on the machine
and the database server's own work do not count) for
1. the two queries of `GET /api/v1/items/{id}` (authenticate, then the item) on a bare
   asyncpg pool,
2. the same two steps as the app runs them (its authenticator, then its items service, in an
   SQLAlchemy AsyncSession),
3. the whole app (`create_app()`, production settings) answering `GET /api/v1/items/{id}`,
4. the whole app answering `GET /api/v1/items?limit=20`,
5. the whole app answering `GET /health`,
6. the whole app answering `POST /api/v1/auth/forgot-password` (202: an e-mail job written in
   the request's transaction), with Argon2 at its cheapest so the hash does not drown the
   rest (its production cost is measured by the login storm of `make bench`);
then a cProfile of (3), its own time summed by package (`--profile list` or `health` for (4)
or (5); BREAKDOWN_PROFILE=<file> also writes it whole, for `python -m pstats` or snakeviz).
"""

import argparse
import asyncio
import collections
import cProfile
import os
import pstats
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import asyncpg
from dependency_injector import providers
from sqlalchemy.engine import URL, make_url

from shared.data.db import asyncpg_dsn
from shared.data.provisioning import drop_database

from .database import recreate, seed_items
from .run import DEFAULT_DATABASE_URL

PROFILED = {
    "get": "GET /api/v1/items/{id}",
    "list": "GET /api/v1/items?limit=20",
    "health": "GET /health",
}
IN_FLIGHT = 16
REQUESTS = 1_600
WARM_UP = 100
SECRET = "breakdown-secret-key-of-at-least-32-characters"

AUTHENTICATE = (
    "SELECT u.* FROM users u JOIN auth_sessions s ON s.user_id = u.id WHERE u.id = $1"
    " AND u.is_active AND s.id = $2 AND s.revoked_at IS NULL AND s.expires_at > now()"
)
ITEM = "SELECT * FROM items WHERE id = $1 AND owner_id = $2"
HASHING_IN_FLIGHT = 2


async def cpu_per_call(call: Callable[[], Awaitable[Any]], in_flight: int = IN_FLIGHT) -> float:
    """Microseconds of this process's CPU per call, `in_flight` calls at a time."""

    async def client() -> None:
        for _ in range(REQUESTS // in_flight):
            await call()

    for _ in range(WARM_UP):  # warm caches, pools and prepared statements
        await call()
    started = time.process_time()
    await asyncio.gather(*(client() for _ in range(in_flight)))
    return (time.process_time() - started) / REQUESTS * 1e6


def asgi_get(
    app: Any, path: str, token: str | None = None, query: bytes = b""
) -> Callable[[], Awaitable[None]]:
    headers = [(b"host", b"127.0.0.1")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return asgi_call(app, "GET", path, headers, b"", 200, query)


def asgi_call(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    status: int,
    query: bytes = b"",
) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000), "state": {},
        }  # fmt: skip
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        if statuses != [status]:
            raise RuntimeError(f"{method} {path}: {statuses}")

    return call


async def prepare(url: URL, ids_file: Path) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A user with a live session and 10,000 items; returns (user, session, an item) ids."""
    await recreate(url)
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(
            "INSERT INTO users (id, email, hashed_password, is_active, is_superuser,"
            " is_verified, created_at, updated_at)"
            " VALUES ($1, 'breakdown@example.com', 'unused', true, false, true, now(), now())",
            user_id,
        )
        await connection.execute(
            "INSERT INTO auth_sessions"
            " (id, user_id, created_at, last_used_at, authenticated_at, expires_at)"
            " VALUES ($1, $2, now(), now(), now(), now() + interval '1 day')",
            session_id,
            user_id,
        )
    finally:
        await connection.close()
    await seed_items(url, user_id, ids_file)
    item_id = uuid.UUID((await asyncio.to_thread(ids_file.read_text)).split()[0])
    return user_id, session_id, item_id


async def measure(url: URL, ids_file: Path, profile_target: str) -> None:
    user_id, session_id, item_id = await prepare(url, ids_file)
    os.environ.update(
        ENVIRONMENT="production",
        EMAIL_BACKEND="smtp",  # production refuses console; nothing is sent here
        SMTP_HOST="127.0.0.1",
        SECRET_KEY=SECRET,
        DATABASE_URL=url.render_as_string(hide_password=False),
        LOG_LEVEL="WARNING",
        REDIS_URL="",
        RATE_LIMIT_DEFAULT="1000000000/minute",
        RATE_LIMIT_SENSITIVE="1000000000/minute",
    )
    # Imported here: the app reads the settings above when it is built.
    from main import create_app
    from modules.auth.tokens import AccessTokens
    from modules.users.passwords import PasswordHasher

    token = AccessTokens(SECRET, timedelta(hours=1)).issue(user_id, session_id)
    app = create_app()
    app.state.container.users.password_hasher.override(
        providers.Object(PasswordHasher.at_minimal_cost())
    )
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=10, max_size=20)

    async def bare_queries() -> None:
        async with pool.acquire() as connection:
            await connection.fetchrow(AUTHENTICATE, user_id, session_id)
            await connection.fetchrow(ITEM, item_id, user_id)

    async with app.router.lifespan_context(app):
        container = app.state.container
        sessions = container.session_factory()
        authenticate, items = container.authenticator(), container.items.service()

        async def orm_queries() -> None:
            async with sessions() as session:
                caller = await authenticate(session, token)
                if caller is None:
                    raise RuntimeError("the token does not authenticate")
                await items.get(session, caller, str(item_id))

        get_item = asgi_get(app, f"/api/v1/items/{item_id}", token)
        list_items = asgi_get(app, "/api/v1/items", token, query=b"limit=20")
        health = asgi_get(app, "/health")
        profiled = {"get": get_item, "list": list_items, "health": health}[profile_target]
        json_headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
        forgot = asgi_call(
            app,
            "POST",
            "/api/v1/auth/forgot-password",
            json_headers,
            b'{"email": "breakdown@example.com"}',
            202,
        )
        steps = [
            ("asyncpg pool: the 2 queries", bare_queries),
            ("the app's authenticator + items service, in a session", orm_queries),
            ("whole app: GET /api/v1/items/{id}", get_item),
            ("whole app: GET /api/v1/items?limit=20", list_items),
            ("whole app: GET /health", health),
        ]
        print(f"CPU of this process per request ({IN_FLIGHT} in flight, {REQUESTS} requests)")
        for name, call in steps:
            print(f"  {await cpu_per_call(call):7.0f} µs  {name}")
        # Two at a time: more would be shed (503) by the hashing admission, not measured.
        hashing = await cpu_per_call(forgot, in_flight=HASHING_IN_FLIGHT)
        print(
            f"  {hashing:7.0f} µs  whole app: POST /api/v1/auth/forgot-password "
            f"(cheapest Argon2, {HASHING_IN_FLIGHT} in flight)"
        )
        profile = cProfile.Profile()
        profile.enable()
        await cpu_per_call(profiled)
        profile.disable()
    await pool.close()
    if dump := os.environ.get("BREAKDOWN_PROFILE"):  # for pstats or snakeviz
        profile.dump_stats(dump)
    print_by_package(pstats.Stats(profile), PROFILED[profile_target])


def print_by_package(stats: pstats.Stats, request: str, top: int = 15) -> None:
    own: collections.Counter[str] = collections.Counter()
    for (file, _, function), (_, _, own_time, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in file:
            key = file.split("site-packages/")[1].split("/")[0].removesuffix(".py")
        elif file.startswith(str(Path.cwd())):
            key = "this repository: " + Path(file).relative_to(Path.cwd()).parts[0]
        elif file == "~":
            key = "C: " + function.strip("<>").split(" of ")[0]
        else:
            key = "stdlib: " + Path(file).stem
        own[key] += own_time
    total = sum(own.values())
    # Unlike CPU time, this count does not move with the machine's load: compare runs by it.
    calls = stats.total_calls / (REQUESTS + WARM_UP)  # type: ignore[attr-defined]
    print(f"\n{request} under cProfile: {calls:.0f} Python calls a request")
    print("Own time by package")
    for key, seconds in own.most_common(top):
        print(f"  {100 * seconds / total:5.1f}%  {key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", choices=sorted(PROFILED), default="get", help="the request to profile"
    )
    args = parser.parse_args()
    bench_url = make_url(os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    url = bench_url.set(database=f"{bench_url.database}_breakdown")
    with TemporaryDirectory() as scratch:
        try:
            asyncio.run(measure(url, Path(scratch) / "item_ids.txt", args.profile))
        finally:
            asyncio.run(drop_database(url))


if __name__ == "__main__":
    main()
