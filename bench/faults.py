"""The fault run: the service in production mode with two workers, on a PostgreSQL and a Redis
of its own (127.0.0.1 only), while they fail under load. Prints one line per experiment.

    uv run python -m bench.faults

About four minutes. What each experiment checks is also a test (tests/e2e/, the Redis one
in tests/shared/test_rate_limit.py), and the run uses those tests' harness: the server
(tests/e2e/server.py), the write load (tests/e2e/write_load.py), the private PostgreSQL and
Redis. This prints the figures a closing note reports.
"""

import asyncio
import resource
import secrets
import signal
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from shared.data.db import asyncpg_dsn
from tests.accounts import bearer, login, new_email, register
from tests.e2e.server import (
    RunningServer,
    cpu_seconds,
    serving_fresh_database,
    start_server,
    start_worker,
)
from tests.e2e.write_load import WRITERS, stored_ids, write_load
from tests.jobs.harness import eventually
from tests.mailbox import smtp_server
from tests.private_postgres import PrivatePostgres, private_postgres
from tests.private_redis import private_redis

PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": secrets.token_urlsafe(48),
    "WORKERS": "2",
    "EMAIL_BACKEND": "smtp",  # production refuses console; nothing is sent in this run
    "SMTP_HOST": "127.0.0.1",
    "LOG_LEVEL": "WARNING",
}


@asynccontextmanager
async def service(postgres: PrivatePostgres, log: Path, **env: str) -> AsyncIterator[RunningServer]:
    """The service as `make run` starts it, in production, on a fresh database of `postgres`."""
    async with serving_fresh_database(postgres.url(), log, **PRODUCTION, **env) as (server, _):
        yield server


def line(experiment: str, figures: str) -> None:
    print(f"| {experiment} | {figures} |", flush=True)


def statuses(counter: Counter[int | str]) -> str:
    return ", ".join(f"{count}×{status}" for status, count in sorted(counter.items(), key=str))


def port_of(server: RunningServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def workers_cpu(server: RunningServer) -> float:
    """CPU seconds used so far by the supervisor's worker processes."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sum(cpu_seconds(int(child)) for child in children)


def crash(postgres: PrivatePostgres) -> Callable[[], None]:
    def run() -> None:
        postgres.stop("immediate")
        time.sleep(5)
        postgres.start()

    return run


async def postgres_faults(postgres: PrivatePostgres, work: Path) -> None:
    log = work / "pg.log"
    async with serving_fresh_database(postgres.url(), log, **PRODUCTION) as (server, url):
        for name, fault in (
            ("PostgreSQL `restart -m fast`", postgres.restart),
            ("PostgreSQL crash (`stop -m immediate`, start 5 s later)", crash(postgres)),
        ):
            async with write_load(server.base_url) as load:
                await asyncio.sleep(1)
                await asyncio.to_thread(fault)
                await asyncio.sleep(3)
            lost = len(set(load.created) - await stored_ids(asyncpg_dsn(url)))
            line(f"{name}, {WRITERS} writers", f"{statuses(load.statuses())}; {lost} 2xx lost")
        await asyncio.to_thread(postgres.restart)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            ready = [(await client.get("/ready")).status_code for _ in range(4)]
        line("`/ready` ×4 after an idle restart", "/".join(map(str, ready)))


async def out_of_connections(postgres: PrivatePostgres, work: Path) -> None:
    async with (
        service(postgres, work / "crowded.log") as server,
        write_load(server.base_url) as load,
    ):
        await asyncio.sleep(5)
    line(
        f"`max_connections` 12 below the pools (2 × 20), {WRITERS} writers",
        statuses(load.statuses()),
    )


async def redis_faults(postgres: PrivatePostgres, work: Path) -> None:
    for name, fault in (("killed", signal.SIGKILL), ("wedged (SIGSTOP)", signal.SIGSTOP)):
        with private_redis() as redis:
            async with (
                service(postgres, work / "redis.log", REDIS_URL=redis.url) as server,
                write_load(server.base_url) as load,
            ):
                await asyncio.sleep(1)
                redis.process.send_signal(fault)
                await asyncio.sleep(4)
        line(f"Redis {name} under {WRITERS} writers", statuses(load.statuses()))


async def timed_health(base_url: str) -> float:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        started = time.monotonic()
        await client.get("/health")
        return time.monotonic() - started


async def huge_header(server: RunningServer, megabytes: int) -> None:
    before = workers_cpu(server)
    _, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    health: asyncio.Task[float] | None = None
    try:
        for piece in range(megabytes * 16):
            if piece == 8:
                health = asyncio.create_task(timed_health(server.base_url))
            writer.write(b"a" * 65536)
            await writer.drain()
            sent += 65536
    except ConnectionError:
        pass
    writer.close()
    waited = await (health or timed_health(server.base_url))
    await asyncio.sleep(0.5)
    used = workers_cpu(server) - before
    line(
        f"one {megabytes} MB header",
        f"cut after {sent / 2**20:.1f} MB sent; {used:.2f} s of the workers' CPU; "
        f"`/health` meanwhile {waited * 1000:.0f} ms",
    )


async def count_held(opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> int:
    """How many connections the server neither answered nor closed; closes them all."""
    held = 0
    for reader, writer in opened:
        try:
            async with asyncio.timeout(0.01):
                await reader.read(1)  # an answer, or b"" when the server closed it
        except TimeoutError:
            held += 1
        except ConnectionError:
            pass
        writer.close()
    return held


async def slowloris(server: RunningServer, connections: int, watch: float) -> None:
    opened = [
        await asyncio.open_connection("127.0.0.1", port_of(server)) for _ in range(connections)
    ]
    for _, writer in opened:
        writer.write(b"GET /health HTTP/1.1\r\n")
    started = time.monotonic()
    while time.monotonic() - started < watch:
        for _, writer in opened:
            if not writer.is_closing():
                writer.write(b"X")
        await asyncio.sleep(1)
    still_open = await count_held(opened)
    health = await timed_health(server.base_url)
    line(
        f"{connections} clients sending a header byte a second",
        f"{still_open} still held after {watch:.0f} s; `/health` {health * 1000:.0f} ms",
    )


async def silent_sockets(server: RunningServer, count: int, watch: float) -> None:
    opened = [await asyncio.open_connection("127.0.0.1", port_of(server)) for _ in range(count)]
    await asyncio.sleep(watch)
    still_open = await count_held(opened)
    line(f"{count} silent connections", f"{still_open} still open after {watch:.0f} s")


async def concurrent_refreshes(server: RunningServer, count: int) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        email = new_email("refresh")
        await register(client, email)
        refresh = {"refresh_token": (await login(client, email))["refresh_token"]}
        answers = await asyncio.gather(
            *(client.post("/api/v1/auth/jwt/refresh", json=refresh) for _ in range(count))
        )
        alive = 0
        for answer in answers:
            if answer.status_code == 200:
                headers = bearer(answer.json()["access_token"])
                alive += (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
    line(
        f"{count} concurrent refreshes with one token",
        f"{statuses(Counter(a.status_code for a in answers))}; {alive} new pairs work",
    )


async def keep_alive_at(server: RunningServer, idle: float, tries: int) -> None:
    lost = 0
    for _ in range(tries):
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
            await client.get("/health")
            await asyncio.sleep(idle)
            try:
                await client.get("/health")
            except httpx.TransportError:
                lost += 1
    line(f"a request on a connection idle {idle:.2f} s", f"{lost} of {tries} lost")


async def sigterm_under_load(postgres: PrivatePostgres, work: Path) -> None:
    outcomes: Counter[str] = Counter()
    stop_at = float("inf")
    signalled = 0.0
    no_keep_alive = httpx.Limits(max_keepalive_connections=0)
    async with (
        service(postgres, work / "sigterm.log", SHUTDOWN_DRAIN_SECONDS="5") as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=no_keep_alive) as client,
    ):

        async def steady() -> None:
            while time.monotonic() < stop_at:
                phase = (
                    "before"
                    if not signalled
                    else ("drain" if time.monotonic() < signalled + 5 else "after")
                )
                try:
                    answer = await client.get("/health")
                    outcomes[f"{phase}: {answer.status_code}"] += 1
                except httpx.ConnectError:
                    outcomes[f"{phase}: refused"] += 1
                    await asyncio.sleep(0.05)
                except httpx.TransportError as error:
                    outcomes[f"{phase}: {type(error).__name__}"] += 1

        clients = [asyncio.create_task(steady()) for _ in range(WRITERS)]
        await asyncio.sleep(1)
        signalled = time.monotonic()
        stop_at = signalled + 7
        server.process.send_signal(signal.SIGTERM)
        ready = await client.get("/ready")
        await asyncio.gather(*clients)
        exit_code = await server.stop()
    line(
        f"SIGTERM to the master (drain 5 s), {WRITERS} clients",
        f"`/ready` {ready.status_code} at once; "
        + ", ".join(f"{count}× {outcome}" for outcome, count in sorted(outcomes.items()))
        + f"; exit {exit_code}",
    )


async def email_after_a_crash(postgres: PrivatePostgres, work: Path) -> None:
    """The API and its worker killed (SIGKILL) while the worker is sending an e-mail, then
    both started again on the same database, with the default settings."""
    with smtp_server(delay=120) as mailbox:  # the first delivery hangs in the mail server
        env = {**PRODUCTION, "WORKERS": "1", "SMTP_PORT": str(mailbox.port)}
        # A worker is started once it has logged so, at INFO.
        env |= {"SMTP_STARTTLS": "false", "LOG_LEVEL": "INFO"}
        async with serving_fresh_database(postgres.url(), work / "crash.log", **env) as (
            server,
            url,
        ):
            dsn = url.render_as_string(hide_password=False)
            worker = await start_worker(dsn, work / "crash-worker.log", **env)
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                email = new_email("crash")
                await register(client, email)
                await client.post("/api/v1/auth/forgot-password", json={"email": email})
            await eventually(lambda: mailbox.started == 1, within=30)
            for process in (server, worker):
                process.process.send_signal(signal.SIGKILL)
                process.process.wait(10)
            mailbox.delay = 0
            again = await start_server(dsn, work / "crash-again.log", **env)
            worker = await start_worker(dsn, work / "crash-worker-again.log", **env)
            started = time.monotonic()
            try:
                arrived = await mailbox.wait_for(1, within=90)
                took = f"arrived {time.monotonic() - started:.1f} s after the restart"
            except AssertionError:
                arrived, took = [], "not within 90 s of the restart"
            finally:
                await worker.stop()
                await again.stop()
    line(
        "API and worker SIGKILLed mid-send, both started again",
        f"{len(arrived)} e-mail to {email}: {took}",
    )


async def edge_experiments(postgres: PrivatePostgres, work: Path) -> None:
    async with service(postgres, work / "edge.log") as server:
        await huge_header(server, 64)
        await huge_header(server, 128)
        await slowloris(server, 3000, 15)
        await silent_sockets(server, 100, 12)
        await concurrent_refreshes(server, 20)
        await keep_alive_at(server, 5.0, 4)


async def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))  # 3,000 sockets
    work = Path(tempfile.mkdtemp(prefix="modulith-faults-"))
    print(f"logs in {work}\n\n| experiment | result |\n|---|---|", flush=True)
    with private_postgres() as postgres:
        await postgres_faults(postgres, work)
        await redis_faults(postgres, work)
        await edge_experiments(postgres, work)
        await sigterm_under_load(postgres, work)
        await email_after_a_crash(postgres, work)
    with private_postgres(max_connections="12", superuser_reserved_connections="0") as postgres:
        await out_of_connections(postgres, work)


if __name__ == "__main__":
    asyncio.run(main())
