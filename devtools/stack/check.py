"""`make stack-check`: the stack (topology.py) under mixed load through its edge while it
fails, one phase after another:

1. steady: nothing fails;
2. an API node is killed (SIGKILL, the node and its workers at once), then started again;
3. every API node is restarted in turn with SIGTERM (a rolling deploy);
4. a job worker is killed (SIGKILL) while it holds a job, then started again;
5. the replica is stopped, then started again.

It prints one line per phase (requests, non-2xx answers by status, socket errors, p99, and
the reads the replica served) and exits 1 if any request got a 5xx or no answer, an
acknowledged write is missing from the primary or was not found when its writer read it
back, the replica served no read while it was up, an acknowledged e-mail was never sent or a
job is left undone or failed, or a node did not rejoin the edge's rotation.

    uv run python -m devtools.stack.check
"""

import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx

from shared.data.db import asyncpg_dsn
from shared.jobs import admin as job_admin

from .load import READER_ADDRESS, Caller, MixedLoad, access_token, register
from .processes import ServiceProcess
from .topology import Shape, Stack, running_stack

MAIL_ACCOUNTS = 200  # more than the phases can ask for at MAIL_EVERY_SECONDS
STEADY_SECONDS = 5.0
REJOIN_WITHIN_SECONDS = 30.0
# A killed worker's job is picked again once its heartbeat is stale (shared/jobs/worker.py,
# 30 s); then the e-mail still has to go.
JOBS_DONE_WITHIN_SECONDS = 90.0
# Settings on top of the stack's: the load comes from one address, so no rate limit may
# refuse it (the limits are tested on their own, in the suite).
LIFTED_LIMITS = {
    "RATE_LIMIT_DEFAULT": "1000000/minute",
    "RATE_LIMIT_LOGIN": "1000000/minute",
    "RATE_LIMIT_SENSITIVE": "1000000/minute",
    "LOG_LEVEL": "INFO",
}


class CheckFailed(Exception):
    pass


async def rejoined(stack: Stack, node: ServiceProcess) -> None:
    """The edge sends to `node` again (its health checks pass), or CheckFailed."""
    deadline = time.monotonic() + REJOIN_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if (await asyncio.to_thread(stack.edge.node_states)).get(node.name) == "UP":
            return
        await asyncio.sleep(0.25)
    raise CheckFailed(f"{node.name} did not rejoin the edge within {REJOIN_WITHIN_SECONDS} s")


async def kill_a_node(stack: Stack) -> None:
    node = stack.nodes[0]
    node.kill()
    await asyncio.sleep(3)
    await node.start()
    await rejoined(stack, node)


async def rolling_deploy(stack: Stack) -> None:
    for node in stack.nodes:
        exit_code = await node.stop()
        if exit_code != 0:
            raise CheckFailed(f"{node.name} exited {exit_code} after SIGTERM")
        await node.start()
        await rejoined(stack, node)


@asynccontextmanager
async def primary(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the primary itself, around PgBouncer: what is really stored."""
    connection = await asyncpg.connect(asyncpg_dsn(stack.database_url), timeout=10)
    try:
        yield connection
    finally:
        await connection.close()


async def workers_holding_jobs(stack: Stack) -> int:
    async with primary(stack) as connection:
        return int(
            await connection.fetchval(
                "SELECT count(DISTINCT queue_manager_id) FROM pgqueuer WHERE status = 'picked'"
            )
        )


async def kill_a_worker_mid_job(stack: Stack) -> None:
    """The mail server stalls each e-mail a while, so that every worker holds a job; then one
    of them dies holding it."""
    stack.mailbox.delay = 5.0
    deadline = time.monotonic() + 20
    while await workers_holding_jobs(stack) < len(stack.workers):
        if time.monotonic() > deadline:
            raise CheckFailed("the workers never all held a job at once")
        await asyncio.sleep(0.1)
    worker = stack.workers[0]
    worker.kill()
    stack.mailbox.delay = 0.0
    await asyncio.sleep(2)
    await worker.start()


async def stop_the_replica(stack: Stack) -> None:
    await asyncio.to_thread(stack.replica.stop, "fast")
    await asyncio.sleep(6)
    await asyncio.to_thread(stack.replica.start)
    await asyncio.sleep(4)


async def steady(_: Stack) -> None:
    await asyncio.sleep(STEADY_SECONDS)


PHASES: list[tuple[str, Callable[[Stack], Awaitable[None]]]] = [
    ("steady", steady),
    ("an API node SIGKILLed, then started again", kill_a_node),
    ("every API node restarted in turn (SIGTERM)", rolling_deploy),
    ("a job worker SIGKILLed holding a job, then started again", kill_a_worker_mid_job),
    ("the replica stopped, then started again", stop_the_replica),
]


async def undone_jobs(stack: Stack) -> list[str]:
    """Jobs still waiting, running or failed: none once everything is done."""
    async with primary(stack) as connection:
        return [f"{n} {task} {status}" for task, status, n in await job_admin.backlog(connection)]


async def jobs_left_after(stack: Stack, seconds: float) -> list[str]:
    """The jobs still undone once they are all done, or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds) + 1):  # a poll a second
        undone = await undone_jobs(stack)
        if not undone or time.monotonic() > deadline:
            return undone
        await asyncio.sleep(1)
    return await undone_jobs(stack)


async def missing_items(stack: Stack, created: list[str]) -> set[str]:
    async with primary(stack) as connection:
        stored = {str(row["id"]) for row in await connection.fetch("SELECT id FROM items")}
    return set(created) - stored


async def replica_reads(stack: Stack) -> dict[str, float]:
    """Each running node's count of read sessions served by the replica (since its start)."""
    counts: dict[str, float] = {}
    sample = 'db_read_sessions_total{database="replica"} '
    async with httpx.AsyncClient(timeout=5) as client:
        for node in stack.nodes:
            try:
                metrics = (await client.get(f"http://127.0.0.1:{node.port}/metrics")).text
            except httpx.TransportError:
                continue  # down: restarted in this phase, counted from zero at its next scrape
            for line in metrics.splitlines():
                if line.startswith(sample):
                    counts[node.name] = float(line.removeprefix(sample))
    return counts


def counted_since(before: dict[str, float], now: dict[str, float]) -> int:
    """What the nodes counted between two scrapes; a node restarted in between counts anew."""
    return int(
        sum(n - before.get(name, 0) if n >= before.get(name, 0) else n for name, n in now.items())
    )


async def caller(client: httpx.AsyncClient, email: str) -> Caller:
    await register(client, email)
    return Caller(client, {"Authorization": f"Bearer {await access_token(client, email)}"})


async def check(stack: Stack) -> list[str]:
    """Runs the phases; what went wrong, if anything."""
    limits = httpx.Limits(max_connections=20)
    from_reader_address = httpx.AsyncHTTPTransport(limits=limits, local_address=READER_ADDRESS)
    async with (
        httpx.AsyncClient(base_url=stack.edge.url, timeout=30, limits=limits) as client,
        httpx.AsyncClient(
            base_url=stack.edge.url, timeout=30, transport=from_reader_address
        ) as reader_client,
    ):
        writers = await caller(client, "stack-check-writer@example.com")
        readers = await caller(reader_client, "stack-check-reader@example.com")
        addresses = [f"stack-check-{n}@example.com" for n in range(MAIL_ACCOUNTS)]
        for start in range(0, MAIL_ACCOUNTS, 4):  # a few at a time: each hashes a password
            await asyncio.gather(*(register(client, a) for a in addresses[start : start + 4]))
        load = MixedLoad(writers, readers, addresses)
        print(
            "| phase | requests | non-2xx | socket errors | p99 ms | replica reads |\n"
            "|---|---|---|---|---|---|"
        )
        clients = load.run()
        problems: list[str] = []
        try:
            for name, fault in PHASES:
                load.begin(name)
                before = await replica_reads(stack)
                try:
                    await fault(stack)
                except CheckFailed as failure:
                    problems.append(str(failure))
                await asyncio.sleep(2)  # what the fault left behind lands in its phase
                served = counted_since(before, await replica_reads(stack))
                if served == 0:
                    problems.append(f"{name}: the replica served no read")
                print(f"{load.phase.line()} {served} |", flush=True)
        finally:
            load.stopping.set()
            await asyncio.gather(*clients)
    for phase in load.phases:
        if phase.server_errors or phase.socket_errors:
            problems.append(f"{phase.name}: {phase.server_errors} 5xx, {dict(phase.socket_errors)}")
    if lost := await missing_items(stack, load.created):
        problems.append(f"{len(lost)} of {len(load.created)} acknowledged items are missing")
    if load.unseen_writes:
        problems.append(
            f"{len(load.unseen_writes)} of {len(load.created)} items were not found by their"
            " writer reading them back at once"
        )
    undone = await jobs_left_after(stack, JOBS_DONE_WITHIN_SECONDS)
    if undone:
        problems.append(f"jobs left {JOBS_DONE_WITHIN_SECONDS:.0f} s after the load: {undone}")
    unsent = set(load.mailed) - {m["To"] for m in stack.mailbox.messages}
    if unsent:
        problems.append(f"{len(unsent)} of {len(load.mailed)} acknowledged e-mails never sent")
    print(
        f"\n{len(load.created)} items written, all on the primary: {not lost}, each read back by"
        f" its writer at once: {len(load.created) - len(load.unseen_writes)}; "
        f"{len(load.mailed)} reset e-mails asked, {len(load.mailed) - len(unsent)} sent; "
        f"jobs left: {len(undone)}",
        flush=True,
    )
    return problems


async def main() -> int:
    directory = Path(tempfile.mkdtemp(prefix="modulith-stack-check-"))
    print(f"make stack-check: logs in {directory}", flush=True)
    shape = Shape(edge_port=0, settings=LIFTED_LIMITS)
    async with running_stack(shape, directory) as stack:
        problems = await check(stack)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
