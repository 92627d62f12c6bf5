"""The fault run: the service in production mode with two workers, on a PostgreSQL and a Redis
of its own (127.0.0.1 only), while they fail under load. Prints one line per experiment.

    uv run python -m bench.faults

About three minutes. What each experiment checks is also a test (tests/e2e/, the Redis one
in tests/shared/test_rate_limit.py); this prints the figures a closing note reports.
"""

import asyncio
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from shared.db import asyncpg_dsn
from tests.private_postgres import PrivatePostgres, private_postgres

from .servers import ROOT, free_port

WORKERS = 2
WRITERS = 32
PASSWORD = "fault-run-password-1234"


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


def start_service(database_url: str, log: Path, **environment: str) -> Service:
    port = free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "WORKERS": str(WORKERS),
        "REDIS_URL": "",
        "EMAIL_BACKEND": "smtp",  # production refuses console; nothing is sent in this run
        "SMTP_HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        **{f"RATE_LIMIT_{name}": "1000000000/minute" for name in ("DEFAULT", "LOGIN")},
        **environment,
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    service = Service(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{service.base_url}/health", timeout=1).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the service did not answer /health within 60 s")


async def access_token(client: httpx.AsyncClient) -> dict[str, str]:
    email = f"faults-{secrets.token_hex(4)}@example.com"
    answer = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    answer.raise_for_status()
    tokens = await client.post(
        "/api/v1/auth/jwt/login", data={"username": email, "password": PASSWORD}
    )
    tokens.raise_for_status()
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


@dataclass
class Load:
    """WRITERS clients creating items until stopped: statuses, transport errors, ids."""

    base_url: str
    headers: dict[str, str]
    statuses: Counter[int | str] = field(default_factory=Counter)
    created: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def writer(self, client: httpx.AsyncClient) -> None:
        while not self.stop.is_set():
            body = {"title": "fault run", "price": "1.00"}
            try:
                answer = await client.post("/api/v1/items", json=body, headers=self.headers)
            except httpx.TransportError as error:
                self.statuses[type(error).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            self.statuses[answer.status_code] += 1
            if answer.status_code == 201:
                self.created.append(answer.json()["id"])
            else:
                await asyncio.sleep(0.05)

    @asynccontextmanager
    async def running(self) -> AsyncIterator["Load"]:
        limits = httpx.Limits(max_connections=WRITERS)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30, limits=limits) as client:
            writers = [asyncio.create_task(self.writer(client)) for _ in range(WRITERS)]
            try:
                yield self
            finally:
                self.stop.set()
                await asyncio.gather(*writers)


def line(experiment: str, figures: str) -> None:
    print(f"| {experiment} | {figures} |", flush=True)


def statuses(counter: Counter[int | str]) -> str:
    return ", ".join(f"{count}×{status}" for status, count in sorted(counter.items(), key=str))


async def missing_writes(dsn: str, created: list[str]) -> int:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        stored = {str(row["id"]) for row in await connection.fetch("SELECT id FROM items")}
    finally:
        await connection.close()
    return len(set(created) - stored)


async def postgres_faults(postgres: PrivatePostgres, work: Path) -> None:
    url = postgres.url("faults")
    service = start_service(url.render_as_string(hide_password=False), work / "pg.log")
    try:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
            headers = await access_token(client)
        for name, fault in (
            ("PostgreSQL `restart -m fast`", postgres.restart),
            ("PostgreSQL crash (`stop -m immediate`, start 5 s later)", crash(postgres)),
        ):
            load = Load(service.base_url, headers)
            async with load.running():
                await asyncio.sleep(1)
                await asyncio.to_thread(fault)
                await asyncio.sleep(3)
            lost = await missing_writes(asyncpg_dsn(url), load.created)
            line(f"{name}, {WRITERS} writers", f"{statuses(load.statuses)}; {lost} 2xx lost")
        await asyncio.to_thread(postgres.restart)
        async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
            ready = [(await client.get("/ready")).status_code for _ in range(4)]
        line("`/ready` ×4 after an idle restart", "/".join(map(str, ready)))
    finally:
        service.stop()


def crash(postgres: PrivatePostgres) -> Callable[[], None]:
    def run() -> None:
        postgres.stop("immediate")
        time.sleep(5)
        postgres.start()

    return run


async def out_of_connections(postgres: PrivatePostgres, work: Path) -> None:
    url = postgres.url("crowded")
    service = start_service(url.render_as_string(hide_password=False), work / "crowded.log")
    try:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
            headers = await access_token(client)
        load = Load(service.base_url, headers)
        async with load.running():
            await asyncio.sleep(5)
        line(
            f"`max_connections` 12 below the pools (2 × 20), {WRITERS} writers",
            statuses(load.statuses),
        )
    finally:
        service.stop()


def start_redis(port: int) -> subprocess.Popen[bytes]:
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError(
            "the fault run needs redis-server (Debian: apt-get install redis-server)"
        )
    command = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


async def redis_faults(database_url: str, work: Path) -> None:
    for name, fault in (("killed", signal.SIGKILL), ("wedged (SIGSTOP)", signal.SIGSTOP)):
        port = free_port()
        redis = start_redis(port)
        service = start_service(
            database_url, work / "redis.log", REDIS_URL=f"redis://127.0.0.1:{port}/0"
        )
        try:
            async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
                headers = await access_token(client)
            load = Load(service.base_url, headers)
            async with load.running():
                await asyncio.sleep(1)
                redis.send_signal(fault)
                await asyncio.sleep(4)
            line(f"Redis {name} under {WRITERS} writers", statuses(load.statuses))
        finally:
            service.stop()
            redis.send_signal(signal.SIGCONT)
            redis.kill()
            redis.wait()


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def timed_health(base_url: str) -> float:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        started = time.monotonic()
        await client.get("/health")
        return time.monotonic() - started


async def huge_header(service: Service, megabytes: int) -> None:
    port = int(service.base_url.rsplit(":", 1)[1])
    before = cpu_seconds(service.worker_pids())
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    health: asyncio.Task[float] | None = None
    try:
        for piece in range(megabytes * 16):
            if piece == 8:
                health = asyncio.create_task(timed_health(service.base_url))
            writer.write(b"a" * 65536)
            await writer.drain()
            sent += 65536
    except ConnectionError:
        pass
    writer.close()
    waited = await (health or timed_health(service.base_url))
    await asyncio.sleep(0.5)
    used = cpu_seconds(service.worker_pids()) - before
    line(
        f"one {megabytes} MB header",
        f"cut after {sent / 2**20:.1f} MB sent; {used:.2f} s of the workers' CPU; "
        f"`/health` meanwhile {waited * 1000:.0f} ms",
    )


async def slowloris(service: Service, connections: int, watch: float) -> None:
    port = int(service.base_url.rsplit(":", 1)[1])
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(connections):
        opened.append(await asyncio.open_connection("127.0.0.1", port))
        opened[-1][1].write(b"GET /health HTTP/1.1\r\n")
    started = time.monotonic()
    while time.monotonic() - started < watch:
        for _, writer in opened:
            if not writer.is_closing():
                writer.write(b"X")
        await asyncio.sleep(1)
    still_open = await count_held(opened)
    health = await timed_health(service.base_url)
    line(
        f"{connections} clients sending a header byte a second",
        f"{still_open} still held after {watch:.0f} s; `/health` {health * 1000:.0f} ms",
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


async def silent_sockets(service: Service, count: int, watch: float) -> None:
    port = int(service.base_url.rsplit(":", 1)[1])
    opened = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
    await asyncio.sleep(watch)
    still_open = await count_held(opened)
    line(f"{count} silent connections", f"{still_open} still open after {watch:.0f} s")


async def concurrent_refreshes(service: Service, count: int) -> None:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        email = f"refresh-{secrets.token_hex(4)}@example.com"
        await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        tokens = (
            await client.post(
                "/api/v1/auth/jwt/login", data={"username": email, "password": PASSWORD}
            )
        ).json()
        answers = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/auth/jwt/refresh", json={"refresh_token": tokens["refresh_token"]}
                )
                for _ in range(count)
            )
        )
        alive = 0
        for answer in answers:
            if answer.status_code == 200:
                me = await client.get(
                    "/api/v1/users/me",
                    headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
                )
                alive += me.status_code == 200
    line(
        f"{count} concurrent refreshes with one token",
        f"{statuses(Counter(a.status_code for a in answers))}; {alive} new pairs work",
    )


async def keep_alive_at(service: Service, idle: float, tries: int) -> None:
    lost = 0
    for _ in range(tries):
        async with httpx.AsyncClient(base_url=service.base_url, timeout=5) as client:
            await client.get("/health")
            await asyncio.sleep(idle)
            try:
                await client.get("/health")
            except httpx.TransportError:
                lost += 1
    line(f"a request on a connection idle {idle:.2f} s", f"{lost} of {tries} lost")


async def sigterm_under_load(database_url: str, work: Path) -> None:
    service = start_service(database_url, work / "sigterm.log", SHUTDOWN_DRAIN_SECONDS="5")
    outcomes: Counter[str] = Counter()
    stop_at = float("inf")
    signalled = 0.0
    no_keep_alive = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=service.base_url, timeout=30, limits=no_keep_alive
    ) as client:

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
        service.process.send_signal(signal.SIGTERM)
        ready = await client.get("/ready")
        await asyncio.gather(*clients)
    exit_code = await asyncio.to_thread(service.stop)
    line(
        f"SIGTERM to the master (drain 5 s), {WRITERS} clients",
        f"`/ready` {ready.status_code} at once; "
        + ", ".join(f"{count}× {outcome}" for outcome, count in sorted(outcomes.items()))
        + f"; exit {exit_code}",
    )


async def edge_experiments(database_url: str, work: Path) -> None:
    service = start_service(database_url, work / "edge.log")
    try:
        await huge_header(service, 64)
        await huge_header(service, 128)
        await slowloris(service, 3000, 15)
        await silent_sockets(service, 100, 12)
        await concurrent_refreshes(service, 20)
        await keep_alive_at(service, 5.0, 4)
    finally:
        service.stop()


async def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))  # 3,000 sockets
    work = Path(tempfile.mkdtemp(prefix="modulith-faults-"))
    print(f"logs in {work}\n\n| experiment | result |\n|---|---|", flush=True)
    experiments: list[Awaitable[None]] = []
    with private_postgres() as postgres:
        await postgres_faults(postgres, work)
        database_url = postgres.url("edges").render_as_string(hide_password=False)
        experiments = [
            redis_faults(database_url, work),
            edge_experiments(database_url, work),
            sigterm_under_load(database_url, work),
        ]
        for experiment in experiments:
            await experiment
    with private_postgres(max_connections="12", superuser_reserved_connections="0") as postgres:
        await out_of_connections(postgres, work)


if __name__ == "__main__":
    asyncio.run(main())
