"""The fault run: the service in production mode with two workers, on a PostgreSQL and a Redis
of its own (127.0.0.1 only), while they fail under load. Prints one line per experiment.

    uv run python -m bench.faults

About five minutes. What each experiment checks is also a test (tests/e2e/, the Redis one
in tests/shared/test_rate_limit.py), and the run uses those tests' harness: the server
(tests/e2e/server.py), the write load (tests/e2e/write_load.py), the private PostgreSQL and
Redis. The client-facing experiments (headers, slow clients, a rolling deploy) run against
the production entry: the edge of `make stack`, with two API nodes behind it. This prints
the figures a closing note reports.
"""

import asyncio
import resource
import signal
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from devtools.local_servers.mailbox import smtp_server
from devtools.local_servers.postgres import PrivatePostgres, private_postgres
from devtools.local_servers.redis import private_redis
from devtools.stack.check import LIFTED_LIMITS, rejoined
from devtools.stack.topology import Shape, Stack, running_stack
from shared.data.db import asyncpg_dsn
from tests.accounts import bearer, login, new_email, register
from tests.e2e.server import (
    PRODUCTION as SERVED_IN_PRODUCTION,
)
from tests.e2e.server import (
    RunningServer,
    serving_fresh_database,
    start_server,
    start_worker,
    tree_cpu_seconds,
)
from tests.e2e.write_load import WRITERS, stored_ids, write_load
from tests.jobs.harness import eventually
from tests.network import send_a_huge_header

PRODUCTION = {**SERVED_IN_PRODUCTION, "WORKERS": "2", "LOG_LEVEL": "WARNING"}


@asynccontextmanager
async def service(postgres: PrivatePostgres, log: Path, **env: str) -> AsyncIterator[RunningServer]:
    """The service as `make run` starts it, in production, on a fresh database of `postgres`."""
    async with serving_fresh_database(postgres.url(), log, **PRODUCTION, **env) as (server, _):
        yield server


def line(experiment: str, figures: str) -> None:
    print(f"| {experiment} | {figures} |", flush=True)


def statuses(counter: Counter[int | str]) -> str:
    return ", ".join(f"{count}×{status}" for status, count in sorted(counter.items(), key=str))


@dataclass
class Entry:
    """Where the clients connect (the production entry: the stack's edge), and the CPU its
    serving side (the edge and every API process behind it) has used so far."""

    base_url: str
    port: int
    cpu: Callable[[], float]


def stack_entry(stack: Stack) -> Entry:
    def cpu() -> float:
        nodes = [node.process.pid for node in stack.nodes if node.process is not None]
        return tree_cpu_seconds(stack.edge.process.pid, *nodes)

    return Entry(stack.edge.url, stack.edge.port, cpu)


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


async def huge_header(server: Entry, megabytes: int) -> None:
    before = server.cpu()
    health: list[asyncio.Task[float]] = []  # /health, asked while the header is being sent

    def ask_health() -> None:
        health.append(asyncio.create_task(timed_health(server.base_url)))

    sent = await send_a_huge_header(server.port, megabytes, once_sending=ask_health)
    waited = await (health[0] if health else timed_health(server.base_url))
    await asyncio.sleep(0.5)
    used = server.cpu() - before
    line(
        f"one {megabytes} MB header",
        f"cut after {sent / 2**20:.1f} MB sent; {used:.2f} s of the edge's and nodes' CPU; "
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


async def slowloris(server: Entry, connections: int, watch: float) -> None:
    opened = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(connections)]
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


async def silent_sockets(server: Entry, count: int, watch: float) -> None:
    opened = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(count)]
    await asyncio.sleep(watch)
    still_open = await count_held(opened)
    line(f"{count} silent connections", f"{still_open} still open after {watch:.0f} s")


async def concurrent_refreshes(server: Entry, count: int) -> None:
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


async def keep_alive_at(server: Entry, idle: float, tries: int) -> None:
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


async def rolling_deploy_under_load(stack: Stack) -> None:
    """Every API node stopped with SIGTERM (it drains first) and started again, one after
    another, while clients ask the edge without keep-alive."""
    outcomes: Counter[str] = Counter()
    done = asyncio.Event()
    no_keep_alive = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=stack.edge.url, timeout=30, limits=no_keep_alive
    ) as client:

        async def steady() -> None:
            while not done.is_set():
                try:
                    outcomes[str((await client.get("/health")).status_code)] += 1
                except httpx.TransportError as error:
                    outcomes[type(error).__name__] += 1

        clients = [asyncio.create_task(steady()) for _ in range(WRITERS)]
        exits = []
        for node in stack.nodes:
            exits.append(await node.stop())
            await node.start()
            await rejoined(stack, node)
        done.set()
        await asyncio.gather(*clients)
    line(
        f"rolling deploy through the edge: {len(stack.nodes)} nodes SIGTERMed (drain 5 s) "
        f"and started in turn, {WRITERS} clients",
        ", ".join(f"{count}× {outcome}" for outcome, count in sorted(outcomes.items()))
        + f"; exits {'/'.join(map(str, exits))}",
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


async def edge_experiments(work: Path) -> None:
    """Against the production entry: the edge of `make stack`, two API nodes behind it."""
    shape = Shape(api_nodes=2, job_workers=1, edge_port=0, settings=LIFTED_LIMITS)
    async with running_stack(shape, work / "stack") as stack:
        entry = stack_entry(stack)
        await huge_header(entry, 64)
        await huge_header(entry, 128)
        await slowloris(entry, 3000, 15)
        await silent_sockets(entry, 100, 12)
        await concurrent_refreshes(entry, 20)
        await keep_alive_at(entry, 5.0, 4)
        await rolling_deploy_under_load(stack)


async def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))  # 3,000 sockets
    work = Path(tempfile.mkdtemp(prefix="modulith-faults-"))
    print(f"logs in {work}\n\n| experiment | result |\n|---|---|", flush=True)
    with private_postgres() as postgres:
        await postgres_faults(postgres, work)
        await redis_faults(postgres, work)
        await email_after_a_crash(postgres, work)
    (work / "stack").mkdir()
    await edge_experiments(work)
    with private_postgres(max_connections="12", superuser_reserved_connections="0") as postgres:
        await out_of_connections(postgres, work)


if __name__ == "__main__":
    asyncio.run(main())
